package api

import (
	"strings"
	"testing"
)

func TestBearer(t *testing.T) {
	tests := []struct {
		header string
		token  string
		ok     bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"Bearer a\tb", "", false},
		{"Basic abc", "", false},
		{"abc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		token, ok := bearer(tt.header)
		if token != tt.token || ok != tt.ok {
			t.Errorf("bearer(%q) = %q, %v; want %q, %v", tt.header, token, ok, tt.token, tt.ok)
		}
	}
}

// FuzzBearer feeds arbitrary Authorization headers: a token is returned
// only for the Bearer scheme, is not empty and holds no blank.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x", "Basic Zm9v", "", "Bearer "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, ok := bearer(header)
		if !ok {
			if token != "" {
				t.Fatalf("bearer(%q) returned %q without ok", header, token)
			}
			return
		}
		if token == "" || strings.ContainsAny(token, " \t") || !strings.HasSuffix(header, token) ||
			!strings.EqualFold(header[:len("Bearer")], "Bearer") {
			t.Fatalf("bearer(%q) = %q", header, token)
		}
	})
}
