package redact

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"nothing to hide", "https://intranet.example/health", "https://intranet.example/health"},
		{"kept as written", "http://h:8080/a%2Fb?z=1&a=2#top", "http://h:8080/a%2Fb?z=1&a=2#top"},
		{"harmless query", "http://h/?page=2&sort=name", "http://h/?page=2&sort=name"},
		{"password", "https://bob:s3cret@h/x", "https://bob:xxxxx@h/x"},
		{"empty password", "https://bob:@h/x", "https://bob:xxxxx@h/x"},
		{"user alone is a token", "https://ghp_s3cret@h/x", "https://xxxxx@h/x"},
		{"empty user info", "https://@h/x", "https://@h/x"},
		{"token", "http://h/p?token=s3cret", "http://h/p?token=xxxxx"},
		{"order and others kept", "http://h/p?b=2&Token=s3cret&a=1", "http://h/p?b=2&Token=xxxxx&a=1"},
		{"several", "http://h/?key=k1&x=1&password=p1&sig=s1", "http://h/?key=xxxxx&x=1&password=xxxxx&sig=xxxxx"},
		{"case and dashes", "http://h/?API-KEY=s3cret&X-Amz-Signature=abc", "http://h/?API-KEY=xxxxx&X-Amz-Signature=xxxxx"},
		{"names containing token", "http://h/?access_token=a&refresh_token=b&private_token=c", "http://h/?access_token=xxxxx&refresh_token=xxxxx&private_token=xxxxx"},
		{"secret and pass variants", "http://h/?client_secret=a&pass=b&passwd=c&pwd=d&auth=e", "http://h/?client_secret=xxxxx&pass=xxxxx&passwd=xxxxx&pwd=xxxxx&auth=xxxxx"},
		{"apikey and suffixes", "http://h/?apikey=a&api_key=b&hook_key=c&x_auth=d", "http://h/?apikey=xxxxx&api_key=xxxxx&hook_key=xxxxx&x_auth=xxxxx"},
		{"escaped name", "http://h/?%74oken=s3cret", "http://h/?%74oken=xxxxx"},
		{"escaped value", "http://h/?token=a%20b%26c", "http://h/?token=xxxxx"},
		{"repeated", "http://h/?token=a&token=b", "http://h/?token=xxxxx&token=xxxxx"},
		{"empty value left", "http://h/?token=&x=1", "http://h/?token=&x=1"},
		{"flag without value", "http://h/?token", "http://h/?token"},
		{"not a sensitive name", "http://h/?author=bob&monkey=1&keyboard=us", "http://h/?author=bob&monkey=1&keyboard=us"},
		{"fragment", "http://h/cb#access_token=s3cret&state=1", "http://h/cb#access_token=xxxxx&state=1"},
		{"everything", "https://u:p1@h:443/a?token=t1#sig=f1", "https://u:xxxxx@h:443/a?token=xxxxx#sig=xxxxx"},
		{"already redacted", "https://u:xxxxx@h/?token=xxxxx", "https://u:xxxxx@h/?token=xxxxx"},
		{"net/http's stripped password", "http://u:***@h/?key=s3cret", "http://u:xxxxx@h/?key=xxxxx"},
		{"relative", "/hook?token=s3cret", "/hook?token=xxxxx"},
		{"unparsable", "http://u:s3cret@h:port/", Unparsable},
		{"control character", "http://h/\x00?token=s3cret", Unparsable},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := URL(tc.in)
			if got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := URL(got); again != got {
				t.Errorf("not idempotent: URL(%q) = %q", got, again)
			}
		})
	}
}

func TestSensitive(t *testing.T) {
	for name, want := range map[string]bool{
		"token": true, "TOKEN": true, "key": true, "apikey": true, "api_key": true, "Api-Key": true,
		"password": true, "pass": true, "secret": true, "auth": true, "access_token": true,
		"sig": true, "signature": true, "X-Amz-Credential": true, "sessionid": true, "authorization": true,
		"page": false, "author": false, "keyboard": false, "monkey": false, "sid": false, "user": false, "": false,
	} {
		if got := Sensitive(name); got != want {
			t.Errorf("Sensitive(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestError(t *testing.T) {
	raw := "http://bob:s3cret@127.0.0.1:1/x?token=s3cret"
	sentinel := errors.New("boom")
	ue := &url.Error{Op: "Get", URL: raw, Err: sentinel}
	_, parseErr := url.Parse("http://bob:s3cret@h:port/?token=s3cret")
	tests := []struct {
		name  string
		err   error
		known []string
		want  string
	}{
		{"nil", nil, nil, ""},
		{"no URL", sentinel, []string{raw}, "boom"},
		{"url.Error", ue, nil, `Get "http://bob:xxxxx@127.0.0.1:1/x?token=xxxxx": boom`},
		{"wrapped url.Error", fmt.Errorf("probe: %w", ue), nil, `probe: Get "http://bob:xxxxx@127.0.0.1:1/x?token=xxxxx": boom`},
		{"joined", errors.Join(sentinel, ue), nil, "boom\nGet \"http://bob:xxxxx@127.0.0.1:1/x?token=xxxxx\": boom"},
		{"known URL in plain text", fmt.Errorf("posting to %s failed", raw), []string{raw}, "posting to http://bob:xxxxx@127.0.0.1:1/x?token=xxxxx failed"},
		{"parse error", parseErr, nil, `parse "(unparsable URL)": invalid port ":port" after host`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Error(tc.err, tc.known...)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("Error(nil) = %v", got)
				}
				return
			}
			if got.Error() != tc.want {
				t.Errorf("got  %q\nwant %q", got.Error(), tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("the redacted error does not unwrap to the original")
			}
		})
	}
}

// TestErrorFromNetHTTP: what net/http really returns for a refused
// connection (the password it strips itself, the query it keeps).
func TestErrorFromNetHTTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raw := "http://bob:s3cret@" + l.Addr().String() + "/?token=s3cret"
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = http.DefaultClient.Do(req)
	if err == nil {
		t.Fatal("want a refused connection")
	}
	if !strings.Contains(err.Error(), "s3cret") {
		t.Logf("net/http no longer names the query: %v", err)
	}
	got := Error(err, raw)
	if strings.Contains(got.Error(), "s3cret") {
		t.Errorf("redacted error still has the secret: %v", got)
	}
	var ne *net.OpError
	if !errors.As(got, &ne) {
		t.Errorf("errors.As lost the *net.OpError under %v", got)
	}
}

// FuzzURL: redacting is idempotent, and what comes out shows no password
// and no value of a sensitive parameter.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"https://bob:s3cret@h/x?token=s3cret&a=1#sig=s3cret", "http://h/?%74oken=a", "/p?key=1;x=2",
		"http://[::1]:80/?pass=x", "mailto:bob@example.com?password=x", "http://h/?a&b=&=c&token==", "https://tok@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := URL(raw)
		if again := URL(got); again != got {
			t.Fatalf("URL(%q) = %q, but URL of that = %q", raw, got, again)
		}
		if got == Unparsable {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("URL(%q) = %q, which does not parse: %v", raw, got, err)
		}
		if p, ok := u.User.Password(); ok && p != Mask {
			t.Errorf("URL(%q) = %q shows password %q", raw, got, p)
		}
		for _, list := range []string{u.RawQuery, u.EscapedFragment()} {
			for _, kv := range strings.Split(list, "&") {
				k, v, _ := strings.Cut(kv, "=")
				name, err := url.QueryUnescape(k)
				if err != nil {
					name = k
				}
				if Sensitive(name) && v != "" && v != Mask {
					t.Errorf("URL(%q) = %q shows %s=%s", raw, got, k, v)
				}
			}
		}
	})
}
