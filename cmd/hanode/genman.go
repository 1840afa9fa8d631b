//go:build hanode_genman

package main

// The manual pages are made by a build of its own (go build -tags
// hanode_genman; make man does), not by the daemon: cobra's man page
// generator brings a Markdown renderer and a YAML encoder (blackfriday,
// go-md2man, yaml), 340 kB of the binary, whose code every node would map
// and whose tables (blackfriday's HTML entities, 100 kB of heap, 240 kB
// allocated) every node would build at start, for a command no node runs:
// without them an idle node was about 0.8 MB smaller. The pages come out
// the same: gen-man is hidden, so no page names it.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() { extraCommands = append(extraCommands, newGenManCommand) }

// manDateLayout is how gen-man's --date is written.
const manDateLayout = "2006-01-02"

// compatTools are the Heartbeat commands the binary becomes when called
// through a link of that name (see run in main.go): the link's name and
// the subcommand it runs.
var compatTools = []struct{ tool, sub string }{
	{"cl_status", "cl_status"},
	{"hb_standby", "standby"},
	{"hb_takeover", "takeover"},
}

// newGenManCommand writes the manual pages from the commands' own help,
// as gen-docs writes docs/commands.md: hanode(8) and one page per
// subcommand in DIR/man8, and in DIR/man1 the Heartbeat tools the binary
// stands in for (cl_status(1), hb_standby(1), hb_takeover(1)). The date
// is a flag, not the clock, so that `make docs-check` can compare the
// committed pages with fresh ones.
func newGenManCommand() *cobra.Command {
	var date string
	c := &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the manual pages (roff) into DIR/man8 and DIR/man1",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			when, err := time.Parse(manDateLayout, date)
			if err != nil {
				return usagef("--date %q is not a date of the form %s", date, manDateLayout)
			}
			if err := writeManPages(args[0], when); err != nil {
				return failure(err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&date, "date", "", "the `DATE` (YYYY-MM-DD) the pages carry")
	_ = c.MarkFlagRequired("date")
	return c
}

// writeManPages writes the pages into dir/man8 and dir/man1. It builds its
// own command trees (the compatibility pages detach a subcommand from its
// root), so the caller's tree is left as it was.
func writeManPages(dir string, date time.Time) error {
	man8, man1 := filepath.Join(dir, "man8"), filepath.Join(dir, "man1")
	for _, d := range []string{man8, man1} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	root := newRootCommand(io.Discard, io.Discard)
	// The pages document what a user can run: cobra adds its completion
	// and help commands only when the tree is executed, so add them here.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.DisableAutoGenTag = true
	header := &doc.GenManHeader{Section: "8", Date: &date, Source: "hanode", Manual: "hanode manual"}
	if err := doc.GenManTree(root, header, man8); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	for _, ct := range compatTools {
		// A fresh tree each time: detached from its root, the subcommand's
		// path, and so its page's NAME and SYNOPSIS, is the tool's name.
		root := newRootCommand(io.Discard, io.Discard)
		sub, _, err := root.Find([]string{ct.sub})
		if err != nil || sub == root {
			return fmt.Errorf("man pages: no %s command for %s", ct.sub, ct.tool)
		}
		root.RemoveCommand(sub)
		sub.Use = ct.tool + strings.TrimPrefix(sub.Use, sub.Name())
		sub.DisableAutoGenTag = true
		sub.Long = strings.TrimSpace(sub.Long) + "\n\n" + fmt.Sprintf(
			"This is hanode(8) called through a link named %s; it is the same as **hanode %s**, see hanode-%s(8).",
			ct.tool, ct.sub, ct.sub)
		hdr := &doc.GenManHeader{Section: "1", Date: &date, Source: "hanode", Manual: "hanode manual"}
		var buf bytes.Buffer
		if err := doc.GenMan(sub, hdr, &buf); err != nil {
			return fmt.Errorf("man page %s(1): %w", ct.tool, err)
		}
		if err := os.WriteFile(filepath.Join(man1, ct.tool+".1"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
