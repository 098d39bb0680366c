package lambdazip

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Entry is one zip entry as Lambda will see it.
type Entry struct {
	Name string
	// Mode is what the external attributes say; for a Unix creator that is
	// the mode unzip and Lambda give the file.
	Mode fs.FileMode
	// UnixCreator is true when the entry's creator is Unix (CreatorVersion
	// 3<<8), the only case in which the mode is honoured.
	UnixCreator bool
	Method      uint16
	Modified    time.Time
	Size        uint64
	// ExtraLen is the length of the entry's extra fields (0 from Build).
	ExtraLen int
}

// Inspect lists a zip's entries in the order they are stored.
func Inspect(zipPath string) ([]Entry, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("%s is not a readable zip: %v", zipPath, err)
	}
	defer zr.Close()
	out := make([]Entry, 0, len(zr.File))
	for _, f := range zr.File {
		out = append(out, Entry{
			Name:        f.Name,
			Mode:        f.Mode(),
			UnixCreator: f.CreatorVersion>>8 == 3,
			Method:      f.Method,
			Modified:    f.Modified,
			Size:        f.UncompressedSize64,
			ExtraLen:    len(f.Extra),
		})
	}
	return out, nil
}

// Verify checks what Build promises and Lambda relies on: a regular,
// executable bootstrap at the root, Unix modes, names that stay inside the
// task root, entries sorted, one timestamp and no extra fields.
func Verify(zipPath string) error {
	entries, err := Inspect(zipPath)
	if err != nil {
		return err
	}
	var bootstrap *Entry
	for i := range entries {
		e := &entries[i]
		if !safeName(e.Name) {
			return fmt.Errorf("%s: entry %q leaves the task root", zipPath, e.Name)
		}
		if !e.UnixCreator {
			return fmt.Errorf("%s: entry %s has no Unix mode (creator is not Unix), so Lambda would ignore its mode", zipPath, e.Name)
		}
		if i > 0 && entries[i-1].Name >= e.Name {
			return fmt.Errorf("%s: entries are not sorted (%s before %s)", zipPath, entries[i-1].Name, e.Name)
		}
		if !e.Modified.Equal(entries[0].Modified) {
			return fmt.Errorf("%s: entry %s has its own timestamp %s", zipPath, e.Name, e.Modified)
		}
		if e.ExtraLen != 0 {
			return fmt.Errorf("%s: entry %s carries %d bytes of extra fields", zipPath, e.Name, e.ExtraLen)
		}
		if e.Name == "bootstrap" {
			bootstrap = e
		}
	}
	switch {
	case bootstrap == nil:
		return fmt.Errorf("%s has no bootstrap at its root: the provided.al2023 runtime runs /var/task/bootstrap", zipPath)
	case !bootstrap.Mode.IsRegular():
		return fmt.Errorf("%s: bootstrap is not a regular file (%s)", zipPath, bootstrap.Mode)
	case bootstrap.Mode.Perm() != 0o755:
		return fmt.Errorf("%s: bootstrap has mode %04o, want 0755", zipPath, bootstrap.Mode.Perm())
	}
	return nil
}

func safeName(name string) bool {
	n := strings.TrimSuffix(name, "/")
	return n != "" && !strings.HasPrefix(n, "/") && !strings.Contains(n, "\\") &&
		path.Clean(n) == n && n != ".." && !strings.HasPrefix(n, "../")
}

// Extract unpacks a zip into dir the way Lambda unpacks it into
// /var/task: files and directories with the zip's modes. It refuses names
// that would land outside dir.
func Extract(zipPath, dir string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("%s is not a readable zip: %v", zipPath, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if !safeName(f.Name) {
			return fmt.Errorf("%s: entry %q leaves the target directory", zipPath, f.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(f.Name))
		mode := f.Mode()
		if mode.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			if err := os.Chmod(target, mode.Perm()); err != nil {
				return err
			}
			continue
		}
		if !mode.IsRegular() {
			return fmt.Errorf("%s: entry %s is not a file or directory (%s)", zipPath, f.Name, mode.Type())
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := extractFile(f, target, mode.Perm()); err != nil {
			return fmt.Errorf("%s: %s: %v", zipPath, f.Name, err)
		}
	}
	return nil
}

func extractFile(f *zip.File, target string, perm fs.FileMode) error {
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	err = errors.Join(err, w.Close())
	if err != nil {
		return err
	}
	return os.Chmod(target, perm) // the umask must not take the x bits
}
