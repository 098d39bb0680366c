package daggerengine_test

// model evaluates the recorded query chains into what Dagger's API says
// they define: containers (base, files with modes and owners, config,
// mounts, execs in order), directories, files, secrets. It follows the API
// reference of dagger.io/dagger v0.21.8 (e.g. withEntrypoint resets the
// default args unless keepDefaultArgs; withNewFile defaults to 0644;
// withNewDirectory to 0755), and it refuses any field it does not know, so
// a new call in the engine shows up here as a failing contract test rather
// than as an unchecked query.

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type model struct {
	s *session

	mu         sync.Mutex
	cache      map[string]any // chain key -> evaluated object
	exports    []*exportRec
	publishes  []*publishRec
	secretURIs []string
	setSecrets []string // names passed to setSecret: must stay empty
}

func newModel(s *session) *model { return &model{s: s, cache: map[string]any{}} }

type rootObj struct{}
type hostObj struct{}

type cacheVol struct{ Key string }
type secretObj struct{ URI string }

// node is one entry of a container's or directory's file system.
type node struct {
	Kind     string // file, dir, symlink
	Mode     int64
	UID, GID int
	Src      *fileObj // file contents
	Link     string
	MTime    *int64
	Implicit bool // a parent no call created explicitly
}

func (n *node) clone() *node { c := *n; return &c }

type fileObj struct {
	Host    string  // a host file
	Content *string // text given in a query
	Exec    *execRec
	Path    string // in the container that made it
	Base    string // a file of a pulled image
}

type dirObj struct {
	Host      string // a host directory, not materialized
	Include   []string
	Exclude   []string
	Gitignore bool
	FS        map[string]*node // "/rel" paths
	Desc      string
}

func (d *dirObj) clone() *dirObj {
	c := *d
	c.FS = map[string]*node{}
	for k, v := range d.FS {
		c.FS[k] = v.clone()
	}
	return &c
}

type execRec struct {
	Args      []string
	Env       map[string]string
	SecretEnv map[string]string
	Workdir   string
	Mounts    map[string]string
	Ctr       *ctrObj // the container the exec ran in
}

type auth struct{ Address, Username, SecretURI string }

type op struct {
	Field string
	Args  map[string]any
	Dir   *dirObj  // the directory argument, resolved
	File  *fileObj // the file argument, resolved
	Exec  *execRec
}

type health struct {
	Args                           []string
	Shell                          bool
	Interval, Timeout, StartPeriod string
	Retries                        int64
}

type ctrObj struct {
	Platform   string
	From       string
	FS         map[string]*node
	Env        []string
	SecretEnv  map[string]string
	Mounts     map[string]string // path -> cache:<key> | secret:<uri>
	Workdir    string
	User       string
	Entrypoint []string
	Cmd        []string
	Ports      []string
	Labels     map[string]string
	Health     *health
	Auth       []auth
	Ops        []op
	TZData     bool
}

func (c *ctrObj) clone() *ctrObj {
	n := *c
	n.FS = map[string]*node{}
	for k, v := range c.FS {
		n.FS[k] = v.clone()
	}
	n.Env = append([]string(nil), c.Env...)
	n.SecretEnv = copyMap(c.SecretEnv)
	n.Mounts = copyMap(c.Mounts)
	n.Labels = copyMap(c.Labels)
	n.Ports = append([]string(nil), c.Ports...)
	n.Auth = append([]auth(nil), c.Auth...)
	n.Ops = append([]op(nil), c.Ops...)
	return &n
}

func copyMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (c *ctrObj) env(k string) (string, bool) {
	for _, kv := range c.Env {
		if key, v, _ := strings.Cut(kv, "="); key == k {
			return v, true
		}
	}
	return "", false
}

func (c *ctrObj) setEnv(k, v string) {
	for i, kv := range c.Env {
		if key, _, _ := strings.Cut(kv, "="); key == k {
			c.Env[i] = k + "=" + v
			return
		}
	}
	c.Env = append(c.Env, k+"="+v)
}

// opIndex is the position of the first op matching f, or -1.
func (c *ctrObj) opIndex(f func(op) bool) int {
	for i, o := range c.Ops {
		if f(o) {
			return i
		}
	}
	return -1
}

type exportRec struct {
	Path              string
	File              *fileObj
	Ctrs              []*ctrObj // the container, then its platform variants
	ForcedCompression string
	MediaTypes        string
}

type publishRec struct {
	Address           string
	Ctrs              []*ctrObj
	ForcedCompression string
	MediaTypes        string
	Ref               string
}

// baseImages are what the model knows of pulled images: enough config for
// the engine's config to be applied on top.
func baseImage(address string) (env, cmd []string, fs map[string]*node) {
	env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	fs = map[string]*node{
		"/bin":    {Kind: "dir", Mode: 0o755},
		"/bin/sh": {Kind: "file", Mode: 0o755, Src: &fileObj{Base: address, Path: "/bin/sh"}},
	}
	if strings.HasPrefix(address, "golang:") {
		env = append(env, "GOLANG_VERSION="+strings.TrimSuffix(strings.TrimPrefix(address, "golang:"), "-alpine"), "GOPATH=/go")
	}
	return env, []string{"/bin/sh"}, fs
}

func chainKey(chain []call) string {
	var b strings.Builder
	for _, c := range chain {
		b.WriteString(c.String())
		b.WriteByte('.')
	}
	return b.String()
}

func (m *model) eval(chain []call) (any, error) {
	key := chainKey(chain)
	m.mu.Lock()
	if v, ok := m.cache[key]; ok {
		m.mu.Unlock()
		return v, nil
	}
	m.mu.Unlock()
	var cur any = rootObj{}
	for i, c := range chain {
		next, err := m.apply(cur, c)
		if err != nil {
			return nil, fmt.Errorf("%s (call %d of %d): %w", c.Field, i+1, len(chain), err)
		}
		cur = next
	}
	m.mu.Lock()
	m.cache[key] = cur
	m.mu.Unlock()
	return cur, nil
}

// object evaluates an ID passed as an argument.
func (m *model) object(v any) (any, error) {
	id, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("want an ID, got %T", v)
	}
	chain, ok := m.s.chainOf(id)
	if !ok {
		return nil, fmt.Errorf("an ID this session never gave: %q", id)
	}
	return m.eval(chain)
}

func (m *model) dirArg(c call, name string) (*dirObj, error) {
	o, err := m.object(c.Args[name])
	if err != nil {
		return nil, err
	}
	d, ok := o.(*dirObj)
	if !ok {
		return nil, fmt.Errorf("%s is a %T, not a Directory", name, o)
	}
	return d, nil
}

func (m *model) fileArg(c call, name string) (*fileObj, error) {
	o, err := m.object(c.Args[name])
	if err != nil {
		return nil, err
	}
	f, ok := o.(*fileObj)
	if !ok {
		return nil, fmt.Errorf("%s is a %T, not a File", name, o)
	}
	return f, nil
}

func (m *model) secretArg(c call, name string) (*secretObj, error) {
	o, err := m.object(c.Args[name])
	if err != nil {
		return nil, err
	}
	s, ok := o.(*secretObj)
	if !ok {
		return nil, fmt.Errorf("%s is a %T, not a Secret", name, o)
	}
	return s, nil
}

func owner(s string) (int, int, error) {
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		g = u
	}
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("owner %q is not numeric uid:gid", s)
	}
	return uid, gid, nil
}

func cleanAbs(p string) string { return path.Clean("/" + p) }

// addParents marks the parents of p that do not exist as implicit dirs.
func addParents(fs map[string]*node, p string) {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if _, ok := fs[d]; !ok {
			fs[d] = &node{Kind: "dir", Mode: 0o755, Implicit: true}
		}
	}
}

func (m *model) apply(cur any, c call) (any, error) {
	switch o := cur.(type) {
	case rootObj:
		switch c.Field {
		case "container":
			return &ctrObj{Platform: c.str("platform"), FS: map[string]*node{}, SecretEnv: map[string]string{}, Mounts: map[string]string{}, Labels: map[string]string{}}, nil
		case "directory":
			return &dirObj{FS: map[string]*node{}, Desc: "empty"}, nil
		case "host":
			return hostObj{}, nil
		case "cacheVolume":
			return &cacheVol{Key: c.str("key")}, nil
		case "secret":
			m.mu.Lock()
			m.secretURIs = append(m.secretURIs, c.str("uri"))
			m.mu.Unlock()
			return &secretObj{URI: c.str("uri")}, nil
		case "setSecret":
			m.mu.Lock()
			m.setSecrets = append(m.setSecrets, c.str("name"))
			m.mu.Unlock()
			return &secretObj{URI: "setSecret:" + c.str("name")}, nil
		}
	case hostObj:
		switch c.Field {
		case "directory":
			return &dirObj{Host: c.str("path"), Include: c.strs("include"), Exclude: c.strs("exclude"), Gitignore: c.Args["gitignore"] == true, FS: map[string]*node{}, Desc: "host:" + c.str("path")}, nil
		case "file":
			return &fileObj{Host: c.str("path")}, nil
		}
	case *ctrObj:
		return m.applyContainer(o, c)
	case *dirObj:
		return m.applyDirectory(o, c)
	}
	return nil, fmt.Errorf("the model does not know %T.%s", cur, c.Field)
}

func (m *model) applyContainer(in *ctrObj, c call) (any, error) {
	// Fields that return something else than the container.
	switch c.Field {
	case "file":
		p := cleanAbs(c.str("path"))
		if n, ok := in.FS[p]; ok && n.Kind == "file" {
			return n.Src, nil
		}
		if in.From == "" {
			return nil, fmt.Errorf("file(%s): no such file in the container", p)
		}
		return &fileObj{Base: in.From, Path: p}, nil
	case "directory":
		p := cleanAbs(c.str("path"))
		if p == "/usr/share/zoneinfo" && in.TZData {
			return tzdata(), nil
		}
		d := &dirObj{FS: map[string]*node{}, Desc: in.From + ":" + p}
		for k, n := range in.FS {
			if strings.HasPrefix(k, p+"/") {
				d.FS[strings.TrimPrefix(k, p)] = n.clone()
			}
		}
		return d, nil
	}

	ctr := in.clone()
	rec := op{Field: c.Field, Args: c.Args}
	switch c.Field {
	case "from":
		ctr.From = c.str("address")
		ctr.Env, ctr.Cmd, ctr.FS = baseImage(ctr.From)
	case "import":
		f, err := m.fileArg(c, "source")
		if err != nil {
			return nil, err
		}
		rec.File = f
		ctr.From = "import:" + f.Host + ":" + c.str("tag")
		ctr.Env, ctr.Cmd, ctr.FS = baseImage(ctr.From)
	case "withMountedCache":
		o, err := m.object(c.Args["cache"])
		if err != nil {
			return nil, err
		}
		cv, ok := o.(*cacheVol)
		if !ok {
			return nil, fmt.Errorf("cache is a %T", o)
		}
		ctr.Mounts[c.str("path")] = "cache:" + cv.Key
	case "withMountedSecret":
		s, err := m.secretArg(c, "source")
		if err != nil {
			return nil, err
		}
		ctr.Mounts[c.str("path")] = "secret:" + s.URI
	case "withSecretVariable":
		s, err := m.secretArg(c, "secret")
		if err != nil {
			return nil, err
		}
		ctr.SecretEnv[c.str("name")] = s.URI
	case "withEnvVariable":
		ctr.setEnv(c.str("name"), c.str("value"))
	case "withWorkdir":
		ctr.Workdir = c.str("path")
	case "withUser":
		ctr.User = c.str("name")
	case "withEntrypoint":
		ctr.Entrypoint = c.strs("args")
		if c.Args["keepDefaultArgs"] != true {
			ctr.Cmd = nil
		}
	case "withoutEntrypoint":
		ctr.Entrypoint = nil
		if c.Args["keepDefaultArgs"] != true {
			ctr.Cmd = nil
		}
	case "withDefaultArgs":
		ctr.Cmd = c.strs("args")
	case "withoutDefaultArgs":
		ctr.Cmd = nil
	case "withExposedPort":
		port, _ := c.int("port")
		proto := "TCP"
		if p, ok := c.Args["protocol"].(enum); ok {
			proto = string(p)
		}
		ctr.Ports = append(ctr.Ports, fmt.Sprintf("%d/%s", port, strings.ToLower(proto)))
	case "withLabel":
		ctr.Labels[c.str("name")] = c.str("value")
	case "withDockerHealthcheck":
		h := &health{Args: c.strs("args"), Shell: c.Args["shell"] == true, Interval: c.str("interval"), Timeout: c.str("timeout"), StartPeriod: c.str("startPeriod")}
		h.Retries, _ = c.int("retries")
		ctr.Health = h
	case "withoutDockerHealthcheck":
		ctr.Health = nil
	case "withRegistryAuth":
		s, err := m.secretArg(c, "secret")
		if err != nil {
			return nil, err
		}
		ctr.Auth = append(ctr.Auth, auth{Address: c.str("address"), Username: c.str("username"), SecretURI: s.URI})
	case "withExec":
		e := &execRec{
			Args: c.strs("args"), Env: map[string]string{}, SecretEnv: copyMap(ctr.SecretEnv),
			Workdir: ctr.Workdir, Mounts: copyMap(ctr.Mounts), Ctr: in,
		}
		for _, kv := range ctr.Env {
			k, v, _ := strings.Cut(kv, "=")
			e.Env[k] = v
		}
		rec.Exec = e
		for i, a := range e.Args {
			if a == "-o" && i+1 < len(e.Args) {
				out := cleanAbs(e.Args[i+1])
				addParents(ctr.FS, out)
				ctr.FS[out] = &node{Kind: "file", Mode: 0o755, Src: &fileObj{Exec: e, Path: out}}
			}
		}
		if strings.Join(e.Args, " ") == "apk add --no-cache tzdata" {
			ctr.TZData = true
		}
	case "withDirectory":
		d, err := m.dirArg(c, "source")
		if err != nil {
			return nil, err
		}
		rec.Dir = d
		dest := cleanAbs(c.str("path"))
		uid, gid := -1, -1
		if s := c.str("owner"); s != "" {
			if uid, gid, err = owner(s); err != nil {
				return nil, err
			}
		}
		for rel, n := range d.FS {
			n = n.clone()
			if uid >= 0 {
				n.UID, n.GID = uid, gid
			}
			target := path.Join(dest, rel)
			addParents(ctr.FS, target)
			ctr.FS[target] = n
		}
	case "withFile":
		f, err := m.fileArg(c, "source")
		if err != nil {
			return nil, err
		}
		rec.File = f
		n := &node{Kind: "file", Mode: 0o644, Src: f}
		if p, ok := c.int("permissions"); ok {
			n.Mode = p
		}
		if s := c.str("owner"); s != "" {
			if n.UID, n.GID, err = owner(s); err != nil {
				return nil, err
			}
		}
		p := cleanAbs(c.str("path"))
		addParents(ctr.FS, p)
		ctr.FS[p] = n
	case "withNewFile":
		content := c.str("contents")
		n := &node{Kind: "file", Mode: 0o644, Src: &fileObj{Content: &content}}
		if p, ok := c.int("permissions"); ok {
			n.Mode = p
		}
		if s := c.str("owner"); s != "" {
			var err error
			if n.UID, n.GID, err = owner(s); err != nil {
				return nil, err
			}
		}
		p := cleanAbs(c.str("path"))
		addParents(ctr.FS, p)
		ctr.FS[p] = n
	default:
		return nil, fmt.Errorf("the model does not know Container.%s", c.Field)
	}
	ctr.Ops = append(ctr.Ops, rec)
	return ctr, nil
}

func tzdata() *dirObj {
	utc, paris := "TZif-UTC", "TZif-Paris"
	return &dirObj{Desc: "tzdata", FS: map[string]*node{
		"/UTC":          {Kind: "file", Mode: 0o644, Src: &fileObj{Content: &utc}},
		"/Europe":       {Kind: "dir", Mode: 0o755},
		"/Europe/Paris": {Kind: "file", Mode: 0o644, Src: &fileObj{Content: &paris}},
	}}
}

func (m *model) applyDirectory(in *dirObj, c call) (any, error) {
	switch c.Field {
	case "file":
		p := cleanAbs(c.str("path"))
		if in.Host != "" {
			return &fileObj{Host: filepath.Join(in.Host, filepath.FromSlash(p))}, nil
		}
		n, ok := in.FS[p]
		if !ok || n.Kind != "file" {
			return nil, fmt.Errorf("file(%s): no such file in the directory", p)
		}
		return n.Src, nil
	case "directory":
		return nil, fmt.Errorf("Directory.directory is not used by the engine")
	}
	if in.Host != "" {
		return nil, fmt.Errorf("Directory.%s on a host directory is not modelled", c.Field)
	}
	d := in.clone()
	p := cleanAbs(c.str("path"))
	switch c.Field {
	case "withNewDirectory":
		n := &node{Kind: "dir", Mode: 0o755}
		if perm, ok := c.int("permissions"); ok {
			n.Mode = perm
		}
		addParents(d.FS, p)
		d.FS[p] = n
	case "withNewFile":
		content := c.str("contents")
		n := &node{Kind: "file", Mode: 0o644, Src: &fileObj{Content: &content}}
		if perm, ok := c.int("permissions"); ok {
			n.Mode = perm
		}
		addParents(d.FS, p)
		d.FS[p] = n
	case "withFile":
		f, err := m.fileArg(c, "source")
		if err != nil {
			return nil, err
		}
		n := &node{Kind: "file", Mode: 0o644, Src: f}
		if f.Exec != nil {
			n.Mode = 0o755
		}
		if perm, ok := c.int("permissions"); ok {
			n.Mode = perm
		}
		if s := c.str("owner"); s != "" {
			if n.UID, n.GID, err = owner(s); err != nil {
				return nil, err
			}
		}
		addParents(d.FS, p)
		d.FS[p] = n
	case "withDirectory":
		src, err := m.dirArg(c, "source")
		if err != nil {
			return nil, err
		}
		uid, gid := -1, -1
		if s := c.str("owner"); s != "" {
			if uid, gid, err = owner(s); err != nil {
				return nil, err
			}
		}
		if _, ok := d.FS[p]; !ok {
			addParents(d.FS, p)
			d.FS[p] = &node{Kind: "dir", Mode: 0o755, Implicit: true}
		}
		if uid >= 0 {
			d.FS[p].UID, d.FS[p].GID = uid, gid
		}
		for rel, n := range src.FS {
			n = n.clone()
			if uid >= 0 {
				n.UID, n.GID = uid, gid
			}
			d.FS[path.Join(p, rel)] = n
		}
	case "withSymlink":
		lp := cleanAbs(c.str("linkName"))
		addParents(d.FS, lp)
		d.FS[lp] = &node{Kind: "symlink", Mode: 0o777, Link: c.str("target")}
	case "chown":
		uid, gid, err := owner(c.str("owner"))
		if err != nil {
			return nil, err
		}
		for k, n := range d.FS {
			if k == p || strings.HasPrefix(k, p+"/") {
				n.UID, n.GID = uid, gid
			}
		}
	case "withTimestamps":
		ts, _ := c.int("timestamp")
		for _, n := range d.FS {
			n.MTime = &ts
		}
	default:
		return nil, fmt.Errorf("the model does not know Directory.%s", c.Field)
	}
	return d, nil
}

// export writes what the chain defines to the host path it names: a file's
// bytes, or a container (with its platform variants) as an OCI tarball.
func (m *model) export(obj []call, c call) (any, error) {
	o, err := m.eval(obj)
	if err != nil {
		return nil, err
	}
	out := c.str("path")
	rec := &exportRec{Path: out}
	switch x := o.(type) {
	case *fileObj:
		rec.File = x
		data, err := fileBytes(x)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(out, data, 0o755); err != nil {
			return nil, err
		}
	case *ctrObj:
		ctrs, err := m.variants(x, c)
		if err != nil {
			return nil, err
		}
		rec.Ctrs = ctrs
		rec.ForcedCompression, rec.MediaTypes = enumArg(c, "forcedCompression"), enumArg(c, "mediaTypes")
		if err := writeOCITarball(out, ctrs); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("export of a %T is not modelled", o)
	}
	m.mu.Lock()
	m.exports = append(m.exports, rec)
	m.mu.Unlock()
	return out, nil
}

func (m *model) publish(obj []call, c call) (any, error) {
	o, err := m.eval(obj)
	if err != nil {
		return nil, err
	}
	x, ok := o.(*ctrObj)
	if !ok {
		return nil, fmt.Errorf("publish of a %T", o)
	}
	ctrs, err := m.variants(x, c)
	if err != nil {
		return nil, err
	}
	idx, err := ociIndex(ctrs)
	if err != nil {
		return nil, err
	}
	d, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	rec := &publishRec{Address: c.str("address"), Ctrs: ctrs, ForcedCompression: enumArg(c, "forcedCompression"), MediaTypes: enumArg(c, "mediaTypes")}
	rec.Ref = rec.Address + "@" + d.String()
	m.mu.Lock()
	m.publishes = append(m.publishes, rec)
	m.mu.Unlock()
	return rec.Ref, nil
}

func enumArg(c call, name string) string {
	e, _ := c.Args[name].(enum)
	return string(e)
}

func (m *model) variants(main *ctrObj, c call) ([]*ctrObj, error) {
	ctrs := []*ctrObj{main}
	if c.Args["platformVariants"] == nil {
		return ctrs, nil
	}
	list, ok := c.Args["platformVariants"].([]any)
	if !ok {
		return nil, fmt.Errorf("platformVariants is a %T", c.Args["platformVariants"])
	}
	for _, id := range list {
		o, err := m.object(id)
		if err != nil {
			return nil, err
		}
		v, ok := o.(*ctrObj)
		if !ok {
			return nil, fmt.Errorf("a platform variant is a %T", o)
		}
		ctrs = append(ctrs, v)
	}
	return ctrs, nil
}

// fileBytes are a file's contents as the fake engine makes them: host
// files as they are, go build outputs as a minimal static ELF for the
// build's GOARCH (what the engine's ELF check reads), image files as text.
func fileBytes(f *fileObj) ([]byte, error) {
	switch {
	case f.Host != "":
		return os.ReadFile(f.Host)
	case f.Content != nil:
		return []byte(*f.Content), nil
	case f.Exec != nil:
		return fakeELF(f.Exec.Env["GOARCH"])
	}
	return []byte("fake " + f.Base + ":" + f.Path + "\n"), nil
}

// fakeELF is an ELF header with no program headers and no sections: a
// static executable for goarch as far as debug/elf can tell.
func fakeELF(goarch string) ([]byte, error) {
	machines := map[string]uint16{"amd64": 62, "arm64": 183, "386": 3, "arm": 40, "riscv64": 243}
	mach, ok := machines[goarch]
	if !ok {
		return nil, fmt.Errorf("no fake ELF for GOARCH=%q", goarch)
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	if goarch == "386" || goarch == "arm" {
		b.Write([]byte{0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
		for _, v := range []any{uint16(2), mach, uint32(1), uint32(0), uint32(0), uint32(0), uint32(0), uint16(52), uint16(32), uint16(0), uint16(40), uint16(0), uint16(0)} {
			binary.Write(&b, le, v)
		}
		return b.Bytes(), nil
	}
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	for _, v := range []any{uint16(2), mach, uint32(1), uint64(0), uint64(0), uint64(0), uint32(0), uint16(64), uint16(56), uint16(0), uint16(64), uint16(0), uint16(0)} {
		binary.Write(&b, le, v)
	}
	return b.Bytes(), nil
}

// imageConfig is the OCI config a container's state makes.
func imageConfig(c *ctrObj) v1.Config {
	cfg := v1.Config{
		User: c.User, Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env,
		Labels: c.Labels, WorkingDir: c.Workdir,
	}
	if len(c.Ports) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
		for _, p := range c.Ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	if h := c.Health; h != nil {
		test := append([]string{"CMD"}, h.Args...)
		if h.Shell {
			test = append([]string{"CMD-SHELL"}, h.Args...)
		}
		cfg.Healthcheck = &v1.HealthConfig{Test: test, Retries: int(h.Retries)}
		cfg.Healthcheck.Interval, _ = time.ParseDuration(h.Interval)
		cfg.Healthcheck.Timeout, _ = time.ParseDuration(h.Timeout)
		cfg.Healthcheck.StartPeriod, _ = time.ParseDuration(h.StartPeriod)
	}
	return cfg
}

func ociImage(c *ctrObj) (v1.Image, error) {
	os_, arch, _ := strings.Cut(c.Platform, "/")
	arch, variant, _ := strings.Cut(arch, "/")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	paths := make([]string, 0, len(c.FS))
	for p := range c.FS {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		n := c.FS[p]
		hdr := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: n.Mode, Uid: n.UID, Gid: n.GID, ModTime: time.Unix(0, 0)}
		var data []byte
		switch n.Kind {
		case "dir":
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case "symlink":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, n.Link
		default:
			var err error
			if data, err = fileBytes(n.Src); err != nil {
				return nil, err
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		tw.Write(data)
	}
	tw.Close()
	layerBytes := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = os_, arch, variant
	cf.Config = imageConfig(c)
	return mutate.ConfigFile(img, cf)
}

func ociIndex(ctrs []*ctrObj) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, c := range ctrs {
		img, err := ociImage(c)
		if err != nil {
			return nil, err
		}
		os_, arch, _ := strings.Cut(c.Platform, "/")
		arch, variant, _ := strings.Cut(arch, "/")
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os_, Architecture: arch, Variant: variant}}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), nil
}

// writeOCITarball writes what buildkit's OCI exporter writes: an OCI
// layout as a tar, index.json pointing at the image index for a
// multi-platform export, at the manifest for a single one.
func writeOCITarball(out string, ctrs []*ctrObj) error {
	dir, err := os.MkdirTemp("", "fake-dagger-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if len(ctrs) == 1 {
		img, err := ociImage(ctrs[0])
		if err != nil {
			return err
		}
		if err := lp.AppendImage(img); err != nil {
			return err
		}
	} else {
		idx, err := ociIndex(ctrs)
		if err != nil {
			return err
		}
		if err := lp.AppendIndex(idx); err != nil {
			return err
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
