// Package lambdazip writes the Lambda step's zip: the bootstrap and the
// config dir for the provided.al2023 runtime. Both engines call Build, so
// the local engine and the Dagger engine hand AWS the same bytes.
//
// The zip is a pure function of its inputs: entries sorted by name, one
// fixed timestamp, modes from the plan, no extra fields. The same commit
// therefore gives the same sha256, which is what lets a deploy be skipped
// when Lambda's CodeSha256 already matches (see Info.CodeSHA256).
package lambdazip

import (
	"archive/zip"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aixgo-dev/agentship/internal/atomicfile"
	"github.com/aixgo-dev/agentship/internal/elfcheck"
	"github.com/aixgo-dev/agentship/pipeline"
)

// Info describes a written zip.
type Info struct {
	// Path is the zip's path as passed to Build.
	Path string `json:"path"`
	Size int64  `json:"size"`
	// SHA256 is the hex sha256 of the zip's bytes.
	SHA256 string `json:"sha256"`
}

// Digest is SHA256 in the "sha256:<hex>" form of the summary's other digests.
func (i Info) Digest() string { return "sha256:" + i.SHA256 }

// CodeSHA256 is the sha256 as Lambda reports it (base64, the CodeSha256 of
// `aws lambda get-function`), so a deployed function can be compared with
// the local zip without downloading it.
func (i Info) CodeSHA256() string {
	b, err := hex.DecodeString(i.SHA256)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Time bounds of the zip format's MS-DOS date: years 1980 to 2107 in 7 bits,
// seconds in steps of two.
var (
	dosMin = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	dosMax = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
)

// DOSTime is the timestamp every entry carries for a plan created at t.
// The zip records modification times only as MS-DOS date and time, which
// cannot go below 1980-01-01: a plan created at the Unix epoch (no git, no
// SOURCE_DATE_EPOCH) gets 1980-01-01 00:00:00 rather than an underflowed
// date that readers would each show differently. Odd seconds round down.
func DOSTime(t time.Time) time.Time {
	t = t.UTC()
	switch {
	case t.Before(dosMin):
		return dosMin
	case t.After(dosMax):
		return dosMax
	}
	return t.Truncate(time.Second).Add(-time.Duration(t.Second()%2) * time.Second)
}

// entry is one zip entry before it is written.
type entry struct {
	name string      // slash-separated, directories end in "/"
	mode fs.FileMode // permission bits, plus fs.ModeDir for directories
	src  string      // host file to copy; "" for directories
}

// Build writes the zip for p.Lambda.ZipFiles to out (p.Dir/p.Dist.LambdaZip
// when out is empty), taking FromLambda entries from the file at bootstrap
// and FromDir entries from p.Dir/Source. The bootstrap must be a static ELF
// for p.Lambda.Arch. The zip appears whole or not at all: it is written to
// a temp file beside out and renamed; on error nothing is left behind, not
// even a dist directory that Build created.
func Build(out string, p *pipeline.Plan, bootstrap string) (Info, error) {
	if out == "" {
		out = filepath.Join(p.Dir, filepath.FromSlash(p.Dist.LambdaZip))
	}
	if _, err := ArchitectureOf(p.Lambda.Arch); err != nil {
		return Info{}, err
	}
	entries, err := collect(p, bootstrap)
	if err != nil {
		return Info{}, err
	}
	return writeAtomic(out, func(w io.Writer) error { return write(w, entries, DOSTime(p.Created)) })
}

// collect turns the plan's zip files into sorted entries, checking every
// source before anything is written.
func collect(p *pipeline.Plan, bootstrap string) ([]entry, error) {
	if len(p.Lambda.ZipFiles) == 0 {
		return nil, errors.New("the plan's Lambda step has no zip files: make the plan with pipeline.MakePlan")
	}
	byName := map[string]entry{}
	add := func(e entry) error {
		if old, ok := byName[e.name]; ok {
			if old.mode.IsDir() && e.mode.IsDir() {
				return nil
			}
			return fmt.Errorf("the Lambda zip would hold %s twice: give each zip file its own path", e.name)
		}
		byName[e.name] = e
		return nil
	}
	// addParents gives every entry its directories, so unzip tools that
	// create directories from entries (and Lambda) see 0755 ones.
	addParents := func(name string) error {
		for dir := path.Dir(strings.TrimSuffix(name, "/")); dir != "."; dir = path.Dir(dir) {
			if err := add(entry{name: dir + "/", mode: fs.ModeDir | 0o755}); err != nil {
				return err
			}
		}
		return nil
	}

	for _, f := range p.Lambda.ZipFiles {
		name, err := zipName(f.Path)
		if err != nil {
			return nil, err
		}
		switch f.From {
		case pipeline.FromLambda:
			if bootstrap == "" {
				return nil, errors.New("no bootstrap given for the Lambda zip: build the Lambda step first")
			}
			st, err := os.Stat(bootstrap)
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("bootstrap %s is missing: build the Lambda step first", bootstrap)
			}
			if err != nil {
				return nil, fmt.Errorf("bootstrap %s cannot be read: %v", bootstrap, errors.Unwrap(err))
			}
			if !st.Mode().IsRegular() {
				return nil, fmt.Errorf("bootstrap %s is not a regular file", bootstrap)
			}
			if _, err := elfcheck.Check(bootstrap, p.Lambda.Arch); err != nil {
				return nil, err
			}
			if err := addParents(name); err != nil {
				return nil, err
			}
			if err := add(entry{name: name, mode: perm(f.Mode, 0o755), src: bootstrap}); err != nil {
				return nil, err
			}
		case pipeline.FromDir:
			if err := addParents(name); err != nil {
				return nil, err
			}
			if err := collectDir(p.Dir, f, name, add); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("the Lambda zip cannot hold %q files (zip file %s): only %q and %q", f.From, f.Path, pipeline.FromLambda, pipeline.FromDir)
		}
	}

	entries := make([]entry, 0, len(byName))
	for _, e := range byName {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	return entries, nil
}

// collectDir adds the tree p.Dir/f.Source under name/: directories 0755,
// files f.Mode, or 0755 when the host file is executable (a script the
// agent runs must stay runnable). Symlinks to files are stored as the
// file they point to, since Lambda unpacks the zip onto a read-only task
// root where a link out of it would dangle.
func collectDir(root string, f pipeline.File, name string, add func(entry) error) error {
	if f.Source == "" {
		return fmt.Errorf("zip file %s copies a directory but names none (Source is empty)", f.Path)
	}
	src := filepath.Join(root, filepath.FromSlash(f.Source))
	st, err := os.Stat(src)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("config dir %s does not exist: create it or leave ConfigDir empty", src)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading %s: %v", p, err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		n := name
		if rel != "." {
			n = name + "/" + filepath.ToSlash(rel)
		}
		if d.IsDir() {
			return add(entry{name: n + "/", mode: fs.ModeDir | 0o755})
		}
		st, err := os.Stat(p) // follows symlinks
		if err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file (%s): the Lambda zip holds only files and directories", p, st.Mode().Type())
		}
		mode := perm(f.Mode, 0o644)
		if st.Mode()&0o111 != 0 {
			mode = 0o755
		}
		return add(entry{name: n, mode: mode, src: p})
	})
}

// zipName checks a plan path and returns it as a zip entry name: relative,
// slash-separated, no "..", so unzip never writes outside its directory.
func zipName(p string) (string, error) {
	n := path.Clean(strings.TrimPrefix(filepath.ToSlash(p), "/"))
	if n == "." || n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("zip file path %q is not a path inside the zip", p)
	}
	return n, nil
}

func perm(m pipeline.Mode, def fs.FileMode) fs.FileMode {
	if m == 0 {
		return def
	}
	return fs.FileMode(m) & fs.ModePerm
}

// write streams the zip. Each header carries the time only in its MS-DOS
// fields: setting FileHeader.Modified would make archive/zip add an
// extended-timestamp extra field, bytes that say nothing Lambda reads.
// Deflate output depends on compress/flate, so both engines run this code
// on the host rather than a zip tool in a container.
func write(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	// The level is pinned here rather than left to archive/zip's default,
	// since it decides the bytes. BestCompression saves 0.3% on a Go
	// binary for three times the time, so the default level it is.
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.DefaultCompression)
	})
	date, clock := dosDateTime(mtime)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		// The deprecated MS-DOS fields are the only way to set a time
		// without the extra field; see write's comment.
		h.ModifiedDate, h.ModifiedTime = date, clock
		// SetMode puts the Unix mode in the high half of the external
		// attributes and marks the creator as Unix (3<<8): without that
		// mark Lambda and unzip ignore the mode and bootstrap is not
		// executable ("Runtime.InvalidEntrypoint ... permission denied").
		h.SetMode(e.mode)
		if e.mode.IsDir() {
			h.Method = zip.Store
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip entry %s: %v", e.name, err)
		}
		if e.src == "" {
			continue
		}
		if err := copyFile(fw, e.src); err != nil {
			return err
		}
	}
	return zw.Close()
}

func dosDateTime(t time.Time) (date, clock uint16) {
	date = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	clock = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	return date, clock
}

func copyFile(w io.Writer, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("copying %s into the zip: %v", src, err)
	}
	return nil
}

// writeAtomic writes out through fill (atomically: a temp file and a
// rename, nothing left on error), hashing and counting as it goes.
func writeAtomic(out string, fill func(io.Writer) error) (Info, error) {
	h := sha256.New()
	cw := &countingWriter{}
	err := atomicfile.Write(out, 0o644, func(w io.Writer) error {
		cw.w = io.MultiWriter(w, h)
		return fill(cw)
	})
	if err != nil {
		return Info{}, fmt.Errorf("writing %s: %v", out, err)
	}
	return Info{Path: out, Size: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
