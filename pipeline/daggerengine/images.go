package daggerengine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"dagger.io/dagger"

	"github.com/aixgo-dev/agentship/internal/atomicfile"
	"github.com/aixgo-dev/agentship/pipeline"
)

// Production defines the Production image for each of
// p.Production.Platforms, in that order: a scratch container
// (client.Container with the platform, no From, so no shell) holding the
// plan's files with their modes and owners, CA certificates taken from the
// builder image, and the plan's user, entrypoint, env, exposed ports,
// labels and Docker healthcheck.
func Production(client Client, p *pipeline.Plan, bins *Binaries) ([]*dagger.Container, error) {
	return images(client, p, p.Production, bins, nil)
}

// Debug defines the Debug image for each of p.Debug.Platforms: the debug
// base (alpine by default; with pipeline.DebugToolbox, scratch plus
// agentship's shell built for the platform) with the binary and the
// config, CMD ["/bin/sh"] and no entrypoint.
func Debug(client Client, p *pipeline.Plan, bins *Binaries) ([]*dagger.Container, error) {
	return images(client, p, p.Debug, bins, nil)
}

func images(client Client, p *pipeline.Plan, img pipeline.Image, bins *Binaries, bootstrap *dagger.File) ([]*dagger.Container, error) {
	if bins == nil {
		return nil, fmt.Errorf("%s image: no Builder output: call Builder first", img.Target)
	}
	var toolbox map[pipeline.Platform]*dagger.File
	if img.Toolbox != nil {
		var err error
		if toolbox, err = toolboxBuilds(client, bins.Toolchain, img.Toolbox); err != nil {
			return nil, err
		}
	}
	var out []*dagger.Container
	for _, plat := range img.Platforms {
		src := fileSources{client: client, plan: p, toolchain: bins.Toolchain, binary: bins.File(plat), bootstrap: bootstrap, toolbox: toolbox[plat]}
		ctr, err := buildImage(client, img, plat, src)
		if err != nil {
			return nil, fmt.Errorf("%s image %s: %w", img.Target, plat, err)
		}
		out = append(out, ctr)
	}
	return out, nil
}

// buildImage defines one image target for one platform from its plan: the
// base (scratch when img.Base is empty), the files, the config. Production,
// Debug and the Lambda image are this with their part of the plan.
func buildImage(client Client, img pipeline.Image, plat pipeline.Platform, src fileSources) (*dagger.Container, error) {
	ctr, err := baseContainer(client, img.Base, plat)
	if err != nil {
		return nil, err
	}
	layers, err := imageLayers(src, img.Files)
	if err != nil {
		return nil, err
	}
	for _, dir := range layers {
		ctr = ctr.WithDirectory("/", dir)
	}
	return configure(ctr, img.Config, img.Base != "")
}

// fileSources are where an image's files come from in Dagger.
type fileSources struct {
	client    Client
	plan      *pipeline.Plan
	toolchain *dagger.Container // CA certificates and zoneinfo
	binary    *dagger.File      // FromBinary, for the image's platform
	bootstrap *dagger.File      // FromLambda
	toolbox   *dagger.File      // FromToolbox, for the image's platform
}

// OCILayoutScheme marks a debug base read from a local OCI image layout.
const OCILayoutScheme = "oci-layout://"

func baseContainer(client Client, base string, plat pipeline.Platform) (*dagger.Container, error) {
	ctr := client.Container(dagger.ContainerOpts{Platform: dagger.Platform(plat.String())})
	switch {
	case base == "":
		return ctr, nil
	case strings.HasPrefix(base, OCILayoutScheme):
		tarball, tag, err := layoutTarball(strings.TrimPrefix(base, OCILayoutScheme))
		if err != nil {
			return nil, fmt.Errorf("base %q: %w", base, err)
		}
		return ctr.Import(client.Host().File(tarball), dagger.ContainerImportOpts{Tag: tag}), nil
	}
	return ctr.From(base), nil
}

// layer groups, stacked in this order as the local engine stacks them:
// what changes least first, so a new commit changes only the last layer.
const (
	layerSystem = iota
	layerConfig
	layerApp
	layerKinds
)

func layerOf(from string) (int, error) {
	switch from {
	case pipeline.FromInline, pipeline.FromCACerts, pipeline.FromZoneinfo, pipeline.FromToolbox:
		return layerSystem, nil
	case pipeline.FromDir:
		return layerConfig, nil
	case pipeline.FromBinary, pipeline.FromLambda:
		return layerApp, nil
	}
	return 0, fmt.Errorf("a file comes from %q, which the Dagger engine does not know", from)
}

// imageLayers builds each non-empty layer group as a directory: every
// parent made explicit (root, 0755), every file with the plan's mode and
// owner, every timestamp the Unix epoch, so layers do not change with the
// clock.
func imageLayers(src fileSources, files []pipeline.File) ([]*dagger.Directory, error) {
	var groups [layerKinds][]pipeline.File
	for _, f := range files {
		k, err := layerOf(f.From)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Path, err)
		}
		groups[k] = append(groups[k], f)
	}
	var out []*dagger.Directory
	for _, g := range groups {
		if len(g) == 0 {
			continue
		}
		dir, err := layerDir(src, g)
		if err != nil {
			return nil, err
		}
		out = append(out, dir.WithTimestamps(0))
	}
	return out, nil
}

func layerDir(src fileSources, files []pipeline.File) (*dagger.Directory, error) {
	dir := src.client.Directory()
	made := map[string]bool{}
	mkdirs := func(p string) {
		var parents []string
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if !made[parents[i]] {
				made[parents[i]] = true
				dir = dir.WithNewDirectory(rel(parents[i]), dagger.DirectoryWithNewDirectoryOpts{Permissions: 0o755})
			}
		}
	}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" {
			return nil, fmt.Errorf("a file of the plan has path %q: give it a path below /", f.Path)
		}
		mkdirs(p)
		owner := ownerOf(f)
		switch f.From {
		case pipeline.FromInline:
			dir = dir.WithNewFile(rel(p), f.Content, dagger.DirectoryWithNewFileOpts{Permissions: int(f.Mode)})
			if owner != rootOwner {
				dir = dir.Chown(rel(p), owner)
			}
		case pipeline.FromCACerts:
			dir = dir.WithFile(rel(p), src.toolchain.File(pipeline.CACertsPath), dagger.DirectoryWithFileOpts{Permissions: int(f.Mode), Owner: owner})
		case pipeline.FromZoneinfo:
			tz := src.toolchain.
				WithExec([]string{"apk", "add", "--no-cache", "tzdata"}).
				Directory(pipeline.ZoneinfoPath)
			made[p] = true
			dir = dir.WithDirectory(rel(p), tz, dagger.DirectoryWithDirectoryOpts{Owner: owner})
		case pipeline.FromDir:
			var err error
			dir, err = withTree(src, dir, f, made)
			if err != nil {
				return nil, err
			}
		case pipeline.FromBinary, pipeline.FromLambda, pipeline.FromToolbox:
			bin, what := src.binary, "binary"
			switch f.From {
			case pipeline.FromLambda:
				bin, what = src.bootstrap, "Lambda bootstrap"
			case pipeline.FromToolbox:
				bin, what = src.toolbox, "builtin Debug base's shell"
			}
			if bin == nil {
				return nil, fmt.Errorf("%s needs the %s, which this run does not build", f.Path, what)
			}
			dir = dir.WithFile(rel(p), bin, dagger.DirectoryWithFileOpts{Permissions: int(f.Mode), Owner: owner})
		}
	}
	return dir, nil
}

// withTree adds a directory of the agent repo: directories 0755, files the
// plan's mode (0755 when the host file is executable), symlinks kept, all
// owned as the plan says. The tree is listed on the host (where the repo
// is), and each file is taken from one upload of the directory.
func withTree(src fileSources, dir *dagger.Directory, f pipeline.File, made map[string]bool) (*dagger.Directory, error) {
	hostDir := filepath.Join(src.plan.Dir, filepath.FromSlash(f.Source))
	st, err := os.Stat(hostDir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s: the directory %s is missing: create it or leave ConfigDir empty", f.Path, hostDir)
	}
	upload := src.client.Host().Directory(hostDir)
	owner := ownerOf(f)
	dest := path.Clean("/" + f.Path)
	err = filepath.WalkDir(hostDir, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(hostDir, hp)
		r = filepath.ToSlash(r)
		target := path.Join(dest, r)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(hp)
			if err != nil {
				return err
			}
			dir = dir.WithSymlink(link, rel(target))
			if owner != rootOwner {
				dir = dir.Chown(rel(target), owner)
			}
		case d.IsDir():
			made[target] = true
			dir = dir.WithNewDirectory(rel(target), dagger.DirectoryWithNewDirectoryOpts{Permissions: 0o755})
			if owner != rootOwner {
				dir = dir.Chown(rel(target), owner)
			}
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := int(f.Mode)
			if info.Mode().Perm()&0o111 != 0 {
				mode = 0o755
			}
			dir = dir.WithFile(rel(target), upload.File(r), dagger.DirectoryWithFileOpts{Permissions: mode, Owner: owner})
		default:
			return fmt.Errorf("%s is neither a file, a directory nor a symlink: remove it from %s", hp, f.Source)
		}
		return nil
	})
	return dir, err
}

const rootOwner = "0:0"

func ownerOf(f pipeline.File) string { return strconv.Itoa(f.UID) + ":" + strconv.Itoa(f.GID) }

// rel is an image path as a path inside a Dagger directory.
func rel(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// configure sets the plan's image config. On a base image it also does
// what the local engine does with a base's config: the entrypoint is the
// plan's (none when empty) and the base's healthcheck is dropped unless the
// plan sets one; env, labels and ports add to the base's.
func configure(ctr *dagger.Container, c pipeline.ImageConfig, hasBase bool) (*dagger.Container, error) {
	if c.User != "" {
		ctr = ctr.WithUser(c.User)
	}
	if len(c.Entrypoint) > 0 {
		ctr = ctr.WithEntrypoint(c.Entrypoint)
	} else if hasBase {
		ctr = ctr.WithoutEntrypoint()
	}
	// After the entrypoint, which resets the default args.
	if len(c.Cmd) > 0 {
		ctr = ctr.WithDefaultArgs(c.Cmd)
	} else if hasBase {
		ctr = ctr.WithoutDefaultArgs()
	}
	if c.WorkingDir != "" {
		ctr = ctr.WithWorkdir(c.WorkingDir)
	}
	for _, kv := range c.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("image env %q is not NAME=value", kv)
		}
		ctr = ctr.WithEnvVariable(k, v)
	}
	for _, ps := range c.ExposedPorts {
		port, proto, err := parsePort(ps)
		if err != nil {
			return nil, err
		}
		ctr = ctr.WithExposedPort(port, dagger.ContainerWithExposedPortOpts{Protocol: proto})
	}
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ctr = ctr.WithLabel(k, c.Labels[k])
	}
	switch hc := c.Healthcheck; {
	case hc != nil && len(hc.Test) > 0 && hc.Test[0] == "NONE":
		ctr = ctr.WithoutDockerHealthcheck()
	case hc != nil && len(hc.Test) > 1:
		opts := dagger.ContainerWithDockerHealthcheckOpts{
			Interval:    durationArg(hc.Interval.String(), hc.Interval == 0),
			Timeout:     durationArg(hc.Timeout.String(), hc.Timeout == 0),
			StartPeriod: durationArg(hc.StartPeriod.String(), hc.StartPeriod == 0),
			Retries:     hc.Retries,
		}
		switch hc.Test[0] {
		case "CMD":
		case "CMD-SHELL":
			opts.Shell = true
		default:
			return nil, fmt.Errorf("healthcheck %q: the test must start with CMD or CMD-SHELL", hc.Test)
		}
		ctr = ctr.WithDockerHealthcheck(hc.Test[1:], opts)
	case hasBase:
		ctr = ctr.WithoutDockerHealthcheck()
	}
	return ctr, nil
}

func durationArg(s string, zero bool) string {
	if zero {
		return ""
	}
	return s
}

func parsePort(s string) (int, dagger.NetworkProtocol, error) {
	num, proto, _ := strings.Cut(s, "/")
	port, err := strconv.Atoi(num)
	if err != nil || port < 1 || port > 65535 {
		return 0, "", fmt.Errorf("exposed port %q is not PORT[/tcp|/udp]", s)
	}
	switch strings.ToLower(proto) {
	case "", "tcp":
		return port, dagger.NetworkProtocolTcp, nil
	case "udp":
		return port, dagger.NetworkProtocolUdp, nil
	}
	return 0, "", fmt.Errorf("exposed port %q: protocol must be tcp or udp", s)
}

// layoutTarball packs an OCI image layout directory (PATH[:tag]) into a
// tarball that Container.Import reads. The tarball is kept in the user
// cache under the digest of the layout's index.json, so it is written once
// and outlives the lazy queries that read it.
func layoutTarball(spec string) (tarball, tag string, err error) {
	dir := spec
	if i := strings.LastIndex(spec, ":"); i > strings.LastIndex(spec, "/") {
		dir, tag = spec[:i], spec[i+1:]
	}
	index, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return "", "", fmt.Errorf("%s is not an OCI image layout (%v)", dir, err)
	}
	if tag, err = layoutRefName(index, dir, tag); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(index)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	tarball = filepath.Join(cache, "agentship", "dagger", "layout-"+hex.EncodeToString(sum[:12])+".tar")
	if _, err := os.Stat(tarball); err == nil {
		return tarball, tag, nil
	}
	if err := atomicfile.Write(tarball, 0o644, func(w io.Writer) error { return tarDir(w, dir) }); err != nil {
		return "", "", err
	}
	return tarball, tag, nil
}

// layoutRefName picks the image of a layout as the local engine does: the
// one whose ref.name is tag or ends in ":"+tag, or the only one when tag is
// empty; it returns the full ref.name, which Import matches exactly.
func layoutRefName(index []byte, dir, tag string) (string, error) {
	var idx struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		return "", fmt.Errorf("%s/index.json cannot be read: %v", dir, err)
	}
	var found []string
	for _, m := range idx.Manifests {
		rn := m.Annotations["org.opencontainers.image.ref.name"]
		if tag == "" || rn == tag || strings.HasSuffix(rn, ":"+tag) {
			found = append(found, rn)
		}
	}
	switch {
	case len(found) == 0 && tag != "":
		return "", fmt.Errorf("no image tagged %q in the layout %s", tag, dir)
	case len(found) == 0:
		return "", fmt.Errorf("the layout %s is empty", dir)
	case len(found) > 1:
		return "", fmt.Errorf("the layout %s holds %d images: name one as oci-layout://%s:TAG", dir, len(found), dir)
	}
	return found[0], nil
}
