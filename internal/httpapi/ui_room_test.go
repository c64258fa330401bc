package httpapi

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vedetta-dc/vedetta/model"
)

// The room shows every target as a tile coloured by its worst alarm (a
// target that does not answer worst of all), grouped by site/room/rack;
// a target page lists its alarms, its latest samples with units, its
// profiles and why it does not answer.
func TestRoomAndTargetPages(t *testing.T) {
	src, _ := farm(t, 30, 10)
	base := src.Latest
	now := time.Now()
	src.Latest = func(fn func(string, model.Labels, float64, time.Time)) {
		base(fn)
		ups := model.Labels{{Name: "class", Value: "ups"}, {Name: "rack", Value: "a12"}, {Name: "room", Value: "r101"}, {Name: "target", Value: "ups-b"}}
		fn(model.MetricTargetUp, ups, 1, now)
		fn("ups_input_voltage_volts", append(model.Labels{{Name: "line", Value: "1"}}, ups...), 231.3, now)
		fn("ups_load_ratio", ups, 0.42, now)
		fn("snmp_profile_matched", append(model.Labels{{Name: "profile", Value: "ups-mib"}}, ups...), 1, now)
	}
	src.TargetError = func(target string) string {
		if target == "t0" {
			return "snmp 127.0.0.1:161: request timeout (after 2 retries)"
		}
		return ""
	}
	ts := startUI(t, src)
	code, body := get(t, http.DefaultClient, ts.URL+"/room")
	if code != 200 {
		t.Fatalf("/room: %d", code)
	}
	for _, want := range []string{
		`<h2>r101 / a12</h2>`,
		`class="cell w-ok"><a href="/target/ups-b">ups-b</a>`,
		`class="cell w-down"><a href="/target/t0">t0</a>`, // down, though it has alarms
		`class="cell w-critical"><a href="/target/t3">t3</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/room lacks %s", want)
		}
	}
	if strings.Index(body, `/target/t0"`) > strings.Index(body, `/target/t3"`) {
		t.Error("a target that does not answer is not first")
	}
	_, body = get(t, http.DefaultClient, ts.URL+"/target/ups-b")
	for _, want := range []string{"231.3 V", "42 %", `id="profiles">ups-mib<`, "line=&#34;1&#34;"} {
		if !strings.Contains(body, want) {
			t.Errorf("/target/ups-b lacks %q", want)
		}
	}
	_, body = get(t, http.DefaultClient, ts.URL+"/target/t0")
	if !strings.Contains(body, `<span id="cause">snmp 127.0.0.1:161: request timeout (after 2 retries)</span>`) {
		t.Error("/target/t0 does not say why it does not answer")
	}
	if n := len(regexp.MustCompile(`<a href="/alarm/`).FindAllString(body, -1)); n != 3 {
		t.Errorf("/target/t0 lists %d alarms, want 3", n)
	}
	if code, _ := get(t, http.DefaultClient, ts.URL+"/target/nope"); code != 404 {
		t.Errorf("/target/nope: %d", code)
	}
}

func TestWithUnit(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    float64
		want string
	}{
		{"ups_input_voltage_volts", 231.3, "231.3 V"}, {"sensor_temperature_celsius", 24, "24 °C"}, {"host_memory_used_ratio", 0.5, "50 %"},
		{"ups_battery_runtime_seconds", 420, "420 s"}, {"radio_signal_dbm", -52.8, "-52.8 dBm"}, {"if_oper_up", 1, "1"},
		{"radio_capacity_bits_per_second", 6.864e+08, "6.864e+08 bit/s"},
	} {
		if got := withUnit(tc.name, tc.v); got != tc.want {
			t.Errorf("withUnit(%s, %v) = %q, want %q", tc.name, tc.v, got, tc.want)
		}
	}
}

// With http.ui_auth: always every view asks for the login first (a
// listener beyond loopback); after it, the page the user asked for.
func TestUIAuthAlways(t *testing.T) {
	src, _ := farm(t, 3, 3)
	src.UIAlways = true
	ts := startUI(t, src)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	for _, p := range []string{"/", "/problems", "/room", "/history", "/silences", "/target/t1"} {
		r, err := c.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.Request.URL.Path != "/login" || r.Request.URL.Query().Get("next") != p {
			t.Errorf("GET %s ended at %s, want the login page with next=%s", p, r.Request.URL, p)
		}
	}
	if code, _ := get(t, c, ts.URL+"/problems.json"); code != 401 {
		t.Errorf("/problems.json without a session: %d, want 401", code)
	}
	_, body := get(t, c, ts.URL+"/login?next=/room")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token in the login form")
	}
	r, err := c.PostForm(ts.URL+"/login", url.Values{"token": {"s3cret-token"}, "csrf": {m[1]}, "next": {"/room"}})
	if err != nil || r.StatusCode != 200 || r.Request.URL.Path != "/room" {
		t.Fatalf("login: %v %v", err, r)
	}
	r.Body.Close()
	if code, _ := get(t, c, ts.URL+"/problems.json"); code != 200 {
		t.Errorf("/problems.json with a session: %d", code)
	}
}
