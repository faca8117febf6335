// Package playground serves GraphiQL entirely from the binary: the page, its bootstrap
// script and the pinned GraphiQL, React and explorer-plugin bundles that assets/build.sh
// fetched from npm. Nothing is loaded from a CDN, so the playground works offline, behind a
// strict proxy, and for customers who forbid third-party scripts.
package playground

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets/index.html assets/*.js assets/*.css
var assets embed.FS

// AssetPrefix is where the page's scripts and styles are served.
const AssetPrefix = "/playground/"

// CSP is the Content-Security-Policy of the page and its assets: scripts, styles and
// requests only from the server itself. GraphiQL's stylesheet embeds its fonts and a few
// icons as data: URLs, hence data: for fonts and images; nothing needs 'unsafe-inline' or
// 'unsafe-eval'. The page is deliberately frameable (no frame-ancestors), as before.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self' data:; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'"

// Handler serves the page at "/" and its assets under AssetPrefix. Mount it on both.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	page, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix(AssetPrefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		if r.URL.Path == "/" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			_, _ = w.Write(page)
			return
		}
		if r.URL.Path == AssetPrefix+"index.html" || r.URL.Path[len(r.URL.Path)-1] == '/' {
			http.NotFound(w, r) // no directory listings, no second copy of the page
			return
		}
		h.Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
