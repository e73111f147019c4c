package emulate_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/seccompstream/seccompstream/emulate"
)

func TestNetworkPolicyValidate(t *testing.T) {
	for _, item := range []string{
		"127.0.0.1:8080", "[::1]:443", "127.0.0.1:*", "0.0.0.0:0", "[::]:*",
		"10.0.0.0/8:53", "[fd00::/8]:*", "0.0.0.0/0:443", "[::ffff:127.0.0.1]:80",
		"[::ffff:10.0.0.0/104]:*", "/run/app.sock", "/run//app.sock", "@app", "@with space",
	} {
		if err := (emulate.NetworkPolicy{Connect: []string{item}, Bind: []string{item}}).Validate(); err != nil {
			t.Errorf("%q: %v", item, err)
		}
	}
	for _, c := range []struct{ item, msg string }{
		{"", "empty item"},
		{" 127.0.0.1:80", "spaces"},
		{"127.0.0.1", "missing port"},
		{"::1", "missing port"},
		{"::1:80", "missing port"},
		{"[::1]", "missing port"},
		{"127.0.0.1:", "bad port"},
		{"127.0.0.1:65536", "bad port"},
		{"127.0.0.1:080", "bad port"},
		{"127.0.0.1:http", "bad port"},
		{"localhost:80", "not an IP address"},
		{"example.com:443", "not an IP address"},
		{":80", "missing address"},
		{"10.1.2.3/8:80", "host bits set"},
		{"10.0.0.0/33:80", "bad prefix"},
		{"[fe80::1%eth0]:80", "zone"},
		{"run/app.sock", "relative path"},
		{"/run/../app.sock", `".." component`},
		{"/" + strings.Repeat("x", 107), "longer than 107"},
		{"@", "empty abstract name"},
		{"@" + strings.Repeat("x", 108), "longer than 107"},
		{"tcp://127.0.0.1:80", ""},
	} {
		err := (emulate.NetworkPolicy{Bind: []string{"127.0.0.1:1", c.item}}).Validate()
		var ae *emulate.AddressError
		if !errors.As(err, &ae) || ae.List != "bind" || ae.Index != 1 || ae.Item != c.item || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v (%+v), want an AddressError for bind[1] saying %q", c.item, err, ae, c.msg)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+c.item+`"`) {
			t.Errorf("%q: the message does not name the item: %v", c.item, err)
		}
	}
}

func TestNetworkPolicyCleaned(t *testing.T) {
	nw, err := emulate.NewNetwork(emulate.NetworkPolicy{
		Connect: []string{"[::ffff:127.0.0.1]:80", "127.0.0.1:80", "/run//app.sock", "10.0.0.0/8:*", "[::1]:443", "@a"},
		Bind:    []string{"[::ffff:10.0.0.0/104]:0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := nw.Policy()
	if want := []string{"127.0.0.1:80", "/run/app.sock", "10.0.0.0/8:*", "[::1]:443", "@a"}; !slices.Equal(p.Connect, want) {
		t.Errorf("Connect %q, want %q", p.Connect, want)
	}
	if want := []string{"10.0.0.0/8:0"}; !slices.Equal(p.Bind, want) {
		t.Errorf("Bind %q, want %q", p.Bind, want)
	}
}
