package resource

import (
	"bytes"
)

// document is one YAML document cut out of a file.
type document struct {
	data      []byte
	firstLine int // 1-based line in the file where data starts
}

// splitDocuments cuts a YAML stream at "---" separator lines, the way kubectl's YAML
// reader does, instead of letting the YAML parser walk the stream. Cutting first keeps
// documents independent: a syntax error in one document does not hide the documents
// after it, and each parse error's line can be mapped back to the file.
//
// A separator is a line starting with "---" followed by nothing or whitespace (a
// comment or a "--- |" scalar header also counts, content after the marker stays in
// the document). A "..." line ends a document. Documents holding only whitespace and
// comments are dropped, so Doc indexes count the documents a reader sees.
func splitDocuments(data []byte) []document {
	var docs []document
	start, startLine := 0, 1
	line := 1
	flush := func(end int) {
		if chunk := data[start:end]; !blankYAML(chunk) {
			docs = append(docs, document{data: chunk, firstLine: startLine})
		}
	}
	for pos := 0; pos < len(data); {
		nl := bytes.IndexByte(data[pos:], '\n')
		end := len(data)
		if nl >= 0 {
			end = pos + nl
		}
		text := bytes.TrimRight(data[pos:end], "\r")
		next := end + 1
		switch {
		case isSeparator(text):
			flush(pos)
			// Keep whatever follows the marker on the same line ("--- !tag" or
			// "--- |"): it belongs to the next document, which starts on this line.
			start, startLine = pos+3, line
			if blankYAML(data[start:min(next, len(data))]) {
				start, startLine = min(next, len(data)), line+1
			}
		case bytes.Equal(text, []byte("...")):
			flush(pos)
			start, startLine = min(next, len(data)), line+1
		}
		pos = next
		line++
	}
	if start < len(data) {
		flush(len(data))
	}
	return docs
}

func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := line[3:]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t'
}

// blankYAML reports whether b holds only whitespace and comment lines.
func blankYAML(b []byte) bool {
	for len(b) > 0 {
		nl := bytes.IndexByte(b, '\n')
		var l []byte
		if nl < 0 {
			l, b = b, nil
		} else {
			l, b = b[:nl], b[nl+1:]
		}
		l = bytes.TrimLeft(l, " \t\r")
		if len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}
