// Command podtemplate-schema prints the Go shape of corev1.PodTemplateSpec as a Python module.
//
// kubectl decides "already matches" with apiequality.Semantic.DeepEqual on the typed template, so the
// distinctions that matter are the ones Go decoding keeps: a nil pointer is not a pointer to an empty
// struct or to a zero scalar, while nil and empty slices and maps are equal and an absent non-pointer
// field is its zero value. The receiver compares JSON, so it needs, for every field, whether it is a
// pointer, a slice, a map, a struct or a scalar. This program reads that from the same k8s.io/api
// release the control plane is built from (reflection, nothing typed by hand).
//
// Usage (from the repository root): scripts/generate-podtemplate-schema.sh
package main

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Types with their own JSON form and their own equality in apiequality.Semantic (or, for the raw
// ones, a byte comparison).
var special = map[reflect.Type]string{
	reflect.TypeOf(resource.Quantity{}):    `("quantity",)`,
	reflect.TypeOf(intstr.IntOrString{}):   `("intorstring",)`,
	reflect.TypeOf(metav1.Time{}):          `("time",)`,
	reflect.TypeOf(metav1.MicroTime{}):     `("time",)`,
	reflect.TypeOf(metav1.FieldsV1{}):      `("raw",)`,
	reflect.TypeOf(runtime.RawExtension{}): `("raw",)`,
}

var structs = map[string][][2]string{}

func shape(t reflect.Type) string {
	if s, ok := special[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Ptr:
		return fmt.Sprintf(`("ptr", %s)`, shape(t.Elem()))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return `("bytes",)`
		}
		return fmt.Sprintf(`("slice", %s)`, shape(t.Elem()))
	case reflect.Map:
		return fmt.Sprintf(`("map", %s)`, shape(t.Elem()))
	case reflect.Struct:
		name := t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:] + "." + t.Name()
		if _, seen := structs[name]; !seen {
			structs[name] = nil // recursion guard
			structs[name] = fields(t)
		}
		return fmt.Sprintf(`("struct", %q)`, name)
	case reflect.String:
		return `("string",)`
	case reflect.Bool:
		return `("bool",)`
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return `("int",)`
	case reflect.Float32, reflect.Float64:
		return `("float",)`
	}
	panic(fmt.Sprintf("unhandled kind %v (%v)", t.Kind(), t))
}

// fields lists the JSON fields of a struct, with embedded `json:",inline"` structs flattened as
// encoding/json does.
func fields(t reflect.Type) [][2]string {
	var out [][2]string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name := strings.Split(tag, ",")[0]
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" {
			out = append(out, fields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, [2]string{name, shape(f.Type)})
	}
	return out
}

func main() {
	root := shape(reflect.TypeOf(corev1.PodTemplateSpec{}))
	names := make([]string, 0, len(structs))
	for name := range structs {
		names = append(names, name)
	}
	sort.Strings(names)
	w := os.Stdout
	fmt.Fprintln(w, `"""The Go shape of corev1.PodTemplateSpec, generated from k8s.io/api by tools/podtemplate-schema.`)
	fmt.Fprintln(w, ``)
	fmt.Fprintln(w, `Do not edit: run scripts/generate-podtemplate-schema.sh. A field's shape is ("ptr", inner),`)
	fmt.Fprintln(w, `("slice", inner), ("map", inner), ("struct", name), or a leaf: ("string",), ("int",), ("bool",),`)
	fmt.Fprintln(w, `("float",), ("bytes",), ("quantity",), ("intorstring",), ("time",), ("raw",).`)
	fmt.Fprintln(w, `"""`)
	fmt.Fprintln(w, ``)
	fmt.Fprintln(w, `# ruff: noqa: E501`)
	fmt.Fprintln(w, `# fmt: off`)
	fmt.Fprintf(w, "POD_TEMPLATE_SPEC = %s\n\n", root)
	fmt.Fprintln(w, `STRUCTS: dict[str, dict[str, tuple[object, ...]]] = {`)
	for _, name := range names {
		fmt.Fprintf(w, "    %q: {\n", name)
		for _, f := range structs[name] {
			fmt.Fprintf(w, "        %q: %s,\n", f[0], f[1])
		}
		fmt.Fprintln(w, "    },")
	}
	fmt.Fprintln(w, `}`)
}
