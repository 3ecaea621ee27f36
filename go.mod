module github.com/portico-gw/portico

go 1.26.8
