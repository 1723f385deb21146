package dashboard

import (
	"bytes"
	"compress/gzip"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/bluegreen-host/controller/internal/httpserve"
)

//go:embed assets
var assets embed.FS

var templates = template.Must(template.New("").ParseFS(assets, "assets/*.tmpl"))

// render runs the named template on data.
func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// deadlines are the dashboard server's (httpserve). A page's event
// stream lives longer than the write deadline: each of its writes gets a
// deadline of its own.
var deadlines = httpserve.Default

// NewServer serves h with every deadline set.
func NewServer(h http.Handler) *http.Server { return deadlines.Server(h) }

// maxForm bounds the body of a form posted to the dashboard.
const maxForm = 16 << 10

// Handler serves the page (GET /), its event stream (GET /events), its
// assets (/static/), sign-in and sign-out (POST /login, /logout) and the
// actions (POST /services/{service}/promote, .../rollback and .../retry). Every POST
// must come from the page's own origin.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", d.servePage)
	mux.HandleFunc("GET /events", d.serveEvents)
	mux.HandleFunc("POST /login", d.login)
	mux.HandleFunc("POST /logout", d.logout)
	mux.HandleFunc("POST /services/{service}/promote", d.act(promoteAction))
	mux.HandleFunc("POST /services/{service}/rollback", d.act(rollbackAction))
	mux.HandleFunc("POST /services/{service}/retry", d.act(retryAction))
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.refuse(w, r, &errRefused{http.StatusForbidden, "cross-origin request refused: actions are taken from the dashboard's own page only"})
	}))
	return headers(cop.Handler(mux))
}

// headers sets what every answer carries: a content security policy that
// lets the page load nothing from elsewhere, run no inline script and be
// framed by no one.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// servePage draws every service's card.
func (d *Dashboard) servePage(w http.ResponseWriter, r *http.Request) {
	p := d.view(d.opt.Status(), nil)
	if id, name, ok := d.sessions.of(r); ok {
		p.Signed, p.By, p.CSRF = true, name, d.csrf(id)
		for i := range p.Services {
			p.Services[i].CSRF = p.CSRF
		}
	}
	cards := map[string][]byte{}
	var body bytes.Buffer
	for _, c := range p.Services {
		b, err := render("card", c)
		if err != nil {
			d.opt.Log.Error(err, "Cannot render a service's card", "service", c.Name)
			http.Error(w, "cannot draw the page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if c.CSRF == "" { // what every page is pushed; a signed page's forms differ
			cards[c.Name] = b
		}
		body.Write(b)
	}
	if b, err := render("banner", p); err == nil {
		cards["banner"] = b
	}
	p.Version = d.hub.remember(cards)
	// The pages may now hold cards newer than the last push: compare the
	// next push with nothing.
	d.mu.Lock()
	d.sent = map[string]uint64{}
	d.mu.Unlock()
	page, err := render("page", struct {
		Page
		Cards template.HTML
	}{p, template.HTML(body.String())}) // cards rendered (and escaped) above
	if err != nil {
		d.opt.Log.Error(err, "Cannot render the dashboard")
		http.Error(w, "cannot draw the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Vary", "Accept-Encoding")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		_, _ = w.Write(page)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	gz := gzip.NewWriter(w)
	_, _ = gz.Write(page)
	_ = gz.Close()
}

// login signs a browser in with a token: a session cookie for its name.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if len(d.opt.Tokens) == 0 {
		d.refuse(w, r, &errRefused{http.StatusForbidden, "the dashboard is read-only: the controller was started without --ui-token-file"})
		return
	}
	name, ok := match(d.opt.Tokens, r.PostFormValue("token"))
	if !ok {
		d.refuse(w, r, &errRefused{http.StatusUnauthorized, "sign-in refused: the token is not one this controller knows"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: d.sessions.open(name), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL.Seconds()), Secure: r.TLS != nil})
	d.opt.Log.Info("Signed in to the dashboard", "by", name, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the browser's session.
func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	if id, _, ok := d.sessions.of(r); ok {
		d.sessions.close(id)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// refuse answers an action that was not taken: its HTTP status, and a page
// that says why.
func (d *Dashboard) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var re *errRefused
	if errors.As(err, &re) {
		code = re.code
	}
	d.opt.Log.Info("Dashboard action refused", "path", r.URL.Path, "status", code, "reason", err.Error(), "remote", r.RemoteAddr)
	b, rerr := render("refused", struct {
		Status int
		Why    string
	}{code, text(err.Error())})
	w.Header().Set("Cache-Control", "no-store")
	if rerr != nil {
		http.Error(w, err.Error(), code)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
