package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// checkKeys reports the first object key of the JSON text data that
// encoding/json accepts but that a reader of the file, or another program
// reading it, could take for something else: a key given twice in one
// object (the decoder keeps the last, silently), or a field name written
// in another case than the format's ("Default", "SYSCALLS": the decoder
// matches field names without regard to case). t is the type data decodes
// into; it says which objects have fields and which are maps. data must
// already have decoded without error.
func checkKeys(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkKeys(dec, t, "")
}

// walkKeys checks the JSON value that dec reads next, of type t (nil:
// unknown), at where.
func walkKeys(dec *json.Decoder, t reflect.Type, where string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walkKeys(dec, elem, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ]
		return err
	case json.Delim('{'):
	default:
		return nil // a scalar
	}
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = make(map[string]reflect.Type)
		jsonFields(t, fields)
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		at := key
		if where != "" {
			at = where + "." + key
		}
		if seen[key] {
			return fmt.Errorf("%s: given twice", at)
		}
		seen[key] = true
		var vt reflect.Type
		switch {
		case fields != nil:
			ft, ok := fields[key]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, key) {
						return fmt.Errorf("%s: field names are case-sensitive: write %q", at, name)
					}
				}
			}
			vt = ft
		case t != nil && t.Kind() == reflect.Map:
			vt = t.Elem()
		}
		if err := walkKeys(dec, vt, at); err != nil {
			return err
		}
	}
	_, err = dec.Token() // }
	return err
}

// jsonFields adds the JSON field names of struct type t, with their types,
// to fields, those of embedded structs included.
func jsonFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			jsonFields(f.Type, fields)
			continue
		}
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
}
