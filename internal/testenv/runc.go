package testenv

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// LayoutImage returns the image for platform (os/arch) named refName in the
// OCI layout at dir: a child of the index of that name, or the image itself.
func LayoutImage(t testing.TB, dir, refName, platform string) v1.Image {
	t.Helper()
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("read layout %s: %v", dir, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] != refName {
			continue
		}
		if d.MediaType.IsImage() {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS+"/"+cf.Architecture != platform {
				t.Fatalf("%s in %s is a %s/%s image, not %s", refName, dir, cf.OS, cf.Architecture, platform)
			}
			return img
		}
		child, err := idx.ImageIndex(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cm, err := child.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range cm.Manifests {
			if m.Platform != nil && m.Platform.OS+"/"+m.Platform.Architecture == platform {
				img, err := child.Image(m.Digest)
				if err != nil {
					t.Fatal(err)
				}
				return img
			}
		}
		t.Fatalf("%s in %s has no %s image", refName, dir, platform)
	}
	t.Fatalf("no image named %q in %s", refName, dir)
	return nil
}

// Unpack flattens the image's layers (whiteouts applied) into a new rootfs
// directory, keeping modes and owners.
func Unpack(t testing.TB, img v1.Image) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("unpack: %v", err)
		}
		target := filepath.Join(root, filepath.Clean("/"+hdr.Name))
		mode := os.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(target, mode)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(target), 0o755)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
			os.Chmod(target, mode)
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(target), 0o755)
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				t.Fatal(err)
			}
		case tar.TypeLink:
			os.MkdirAll(filepath.Dir(target), 0o755)
			if err := os.Link(filepath.Join(root, filepath.Clean("/"+hdr.Linkname)), target); err != nil {
				t.Fatal(err)
			}
		default:
			continue
		}
		os.Lchown(target, hdr.Uid, hdr.Gid)
	}
	return root
}

// Mount bind-mounts a host path into the container, read-only.
type Mount struct {
	Host, Container string
}

// RunOptions say how to run an image under runc.
type RunOptions struct {
	// Args replace the image's entrypoint and cmd when set.
	Args []string
	// Env is added to the image's environment (later entries win).
	Env []string
	// User overrides the image's user ("uid:gid").
	User string
	// Writable makes the root file system writable; by default it is
	// read-only, as an agent should run in production.
	Writable bool
	Mounts   []Mount
}

// Container is a running runc container.
type Container struct {
	ID             string
	Stdout, Stderr *SyncBuffer
	cmd            *exec.Cmd
	root           string
	runc           string
	done           chan struct{}
	exitCode       int
}

// Start unpacks img and runs it under runc with the host network, the
// image's user, env, entrypoint and cmd (unless opts override them), and a
// read-only root. The container is killed and deleted when the test ends.
func Start(t testing.TB, img v1.Image, opts RunOptions) *Container {
	t.Helper()
	runc := Tool(t, "runc")
	Root(t)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	rootfs := Unpack(t, img)
	bundle := filepath.Dir(rootfs)

	args := opts.Args
	if args == nil {
		args = append(append([]string{}, cf.Config.Entrypoint...), cf.Config.Cmd...)
	}
	if len(args) == 0 {
		t.Fatal("the image has no entrypoint or cmd and RunOptions.Args is empty")
	}
	user := cf.Config.User
	if opts.User != "" {
		user = opts.User
	}
	uid, gid := parseUser(t, user)
	env := append(append([]string{}, cf.Config.Env...), opts.Env...)
	cwd := cf.Config.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	spec := ociSpec(args, env, uid, gid, cwd, !opts.Writable, opts.Mounts)
	b, _ := json.MarshalIndent(spec, "", "  ")
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	c := &Container{
		ID:     fmt.Sprintf("agentship-test-%d-%d", os.Getpid(), time.Now().UnixNano()),
		Stdout: &SyncBuffer{},
		Stderr: &SyncBuffer{},
		root:   filepath.Join(t.TempDir(), "runc-state"),
		runc:   runc,
		done:   make(chan struct{}),
	}
	c.cmd = exec.Command(runc, "--root", c.root, "run", "--bundle", bundle, c.ID)
	c.cmd.Stdout, c.cmd.Stderr = c.Stdout, c.Stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("runc run: %v", err)
	}
	go func() {
		err := c.cmd.Wait()
		c.exitCode = 0
		if ee, ok := err.(*exec.ExitError); ok {
			c.exitCode = ee.ExitCode()
		} else if err != nil {
			c.exitCode = -1
		}
		close(c.done)
	}()
	t.Cleanup(func() {
		exec.Command(runc, "--root", c.root, "kill", c.ID, "KILL").Run()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
		}
		exec.Command(runc, "--root", c.root, "delete", "-f", c.ID).Run()
	})
	return c
}

// Wait waits for the container to exit and returns its exit code; it fails
// the test after timeout.
func (c *Container) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
		return c.exitCode
	case <-time.After(timeout):
		t.Fatalf("container %s still running after %s; stdout: %s; stderr: %s", c.ID, timeout, c.Stdout, c.Stderr)
		return -1
	}
}

// Exited reports whether the container has stopped.
func (c *Container) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Run runs img to completion and returns its output and exit code.
func Run(t testing.TB, img v1.Image, opts RunOptions, timeout time.Duration) (stdout, stderr string, code int) {
	t.Helper()
	c := Start(t, img, opts)
	code = c.Wait(t, timeout)
	return c.Stdout.String(), c.Stderr.String(), code
}

func parseUser(t testing.TB, user string) (uid, gid int) {
	if user == "" {
		return 0, 0
	}
	u, g, _ := strings.Cut(user, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		t.Fatalf("image user %q is not numeric: the runc harness needs uid[:gid]", user)
	}
	gid = uid
	if g != "" {
		if gid, err = strconv.Atoi(g); err != nil {
			t.Fatalf("image group %q is not numeric", g)
		}
	}
	return uid, gid
}

// ociSpec is a minimal runtime spec: the default namespaces but the
// network one (host network, so tests reach the agent on 127.0.0.1), no
// capabilities for a non-root user, /proc, /dev, and a /tmp tmpfs.
func ociSpec(args, env []string, uid, gid int, cwd string, readonly bool, mounts []Mount) map[string]any {
	ms := []map[string]any{
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": []string{"nosuid", "noexec", "nodev", "ro"}},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "mode=1777", "size=65536k"}},
	}
	for _, m := range mounts {
		ms = append(ms, map[string]any{"destination": m.Container, "type": "bind", "source": m.Host, "options": []string{"rbind", "ro"}})
	}
	caps := []string{}
	if uid == 0 {
		caps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE"}
	}
	return map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false,
			"user":     map[string]any{"uid": uid, "gid": gid},
			"args":     args,
			"env":      env,
			"cwd":      cwd,
			"capabilities": map[string]any{
				"bounding": caps, "effective": caps, "permitted": caps,
			},
			"rlimits":         []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}},
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": "rootfs", "readonly": readonly},
		"hostname": "agentship-test",
		"mounts":   ms,
		"linux": map[string]any{
			"namespaces": []map[string]any{
				{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
			},
			"maskedPaths":   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}
