package gatewayapi

import (
	"strconv"
	"time"

	egv1a1 "github.com/portico-gw/portico/api/v1alpha1"
	"github.com/portico-gw/portico/internal/ir"
)

// cors is Envoy Gateway's CORS translation: an origin with "*" becomes a
// regex where only "*" is a wildcard; a "*" among methods or headers
// allows any; maxAge is in seconds.
func cors(c *egv1a1.CORS) (*ir.CORS, error) {
	out := &ir.CORS{
		AllowMethods:  starOrList(c.AllowMethods),
		AllowHeaders:  starOrList(c.AllowHeaders),
		ExposeHeaders: starOrList(c.ExposeHeaders),
	}
	if c.AllowCredentials != nil {
		out.AllowCredentials = *c.AllowCredentials
	}
	for _, o := range c.AllowOrigins {
		out.AllowOrigins = append(out.AllowOrigins, originMatch(o))
	}
	if c.MaxAge != nil {
		d, err := time.ParseDuration(string(*c.MaxAge))
		if err != nil {
			return nil, err
		}
		out.MaxAge = ptr(strconv.Itoa(int(d.Seconds())))
	}
	return out, nil
}

func starOrList(l []string) []string {
	for _, v := range l {
		if v == "*" {
			return []string{"*"}
		}
	}
	return l
}
