package config

import "reflect"

// reflect_ returns the addressable value behind a pointer.
func reflect_(ptr any) reflect.Value {
	v := reflect.ValueOf(ptr)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		panic("config: decode needs a non-nil pointer")
	}
	return v.Elem()
}
