// Package dom reads what a page shows, from the DOM a headless browser
// dumps (chromium --dump-dom), for the tests of the web view: find an
// element by tag and attribute, read an attribute, read its text.
package dom

import (
	"strings"

	"golang.org/x/net/html"
)

// Find is the first element under n (n included) of the tag whose
// attribute key is val; nil when there is none.
func Find(n *html.Node, tag, key, val string) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode && n.Data == tag && Attr(n, key) == val {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := Find(c, tag, key, val); f != nil {
			return f
		}
	}
	return nil
}

// Attr is n's attribute key, "" when it has none (or n is nil).
func Attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// Text is what an element shows: its text, trimmed, without its tooltips
// (SVG titles).
func Text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || c.Data != "title" {
				walk(c)
			}
		}
	}
	if n != nil {
		walk(n)
	}
	return strings.TrimSpace(b.String())
}
