package translator

import (
	"fmt"
	"strings"
)

// ObjectError is a problem with one IR object; the object (or the part of it
// named) is left out of the xDS and everything else still translates.
type ObjectError struct {
	// Kind is the IR type: HTTPListener, HTTPRoute, RouteDestination,
	// ReadyListener, AccessLog or HTTPFilter.
	Kind string
	// Name is the IR object's name.
	Name string
	Err  error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("%s %q: %v", e.Kind, e.Name, e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// Errors is every ObjectError of one translation, in IR order.
type Errors []*ObjectError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.Is and errors.As look at each ObjectError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// errs accumulates ObjectErrors during one translation.
type errs struct{ list Errors }

func (e *errs) add(kind, name string, err error) {
	if err == nil {
		return
	}
	e.list = append(e.list, &ObjectError{Kind: kind, Name: name, Err: err})
}

func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return e.list
}
