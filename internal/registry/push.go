// Package registry publishes an image from an OCI image layout (dist/oci)
// to an OCI registry, safely under failure: the index, its manifests and
// blobs go up by digest first, and tags are written only once all of that
// is in the registry, so a failed push never leaves a tag on a partial
// image. Blobs the registry has are not uploaded again, transient errors
// are retried with backoff a bounded number of times, and a failure is one
// line naming the registry, the cause and the fix, with no secret in it.
package registry

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aixgo-dev/agentship/internal/atomicfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sirupsen/logrus"
)

// RefNameAnnotation names an image in an OCI layout's index.json.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Defaults for PushOptions' zero values.
const (
	DefaultTries            = 5
	DefaultBackoff          = time.Second
	DefaultJobs             = 4
	DefaultProgressInterval = 5 * time.Second
	DefaultResponseTimeout  = 2 * time.Minute
)

// PushOptions say what to push where. LayoutDir, RefName and Repository
// are needed; the rest has defaults.
type PushOptions struct {
	// LayoutDir is the OCI image layout holding the image (dist/oci).
	LayoutDir string
	// RefName picks the image by its org.opencontainers.image.ref.name
	// in the layout ("agent:1.2.3"); "" takes the layout's only image.
	RefName string
	// Repository is where the image goes: registry/namespace/name, e.g.
	// ghcr.io/acme/agent.
	Repository string
	// Tags are written, in order, once the image is complete in the
	// registry. None pushes by digest only.
	Tags []string

	// Log receives progress and retries; nil discards them.
	Log logrus.FieldLogger
	// Getenv reads credentials (see Keychain), AGENTSHIP_INSECURE_REGISTRIES
	// and SSL_CERT_FILE; nil is os.Getenv.
	Getenv func(string) string
	// Keychain replaces Keychain(registry, Getenv) when set.
	Keychain authn.Keychain

	// Tries bounds the attempts of each request that fails transiently
	// (5xx, 408, 429, timeouts, broken connections); 0 is DefaultTries.
	Tries int
	// Backoff is the wait after the first failed try; it doubles after
	// each further one. 0 is DefaultBackoff.
	Backoff time.Duration
	// Jobs is how many blobs upload at once; 0 is DefaultJobs.
	Jobs int
	// ProgressInterval is how often a push still uploading logs the bytes
	// sent so far; 0 is DefaultProgressInterval.
	ProgressInterval time.Duration
	// ResponseTimeout bounds the wait for the registry's answer to one
	// request once it is sent (uploading the body is not counted); a
	// request that times out is retried. 0 is DefaultResponseTimeout.
	ResponseTimeout time.Duration
}

// PushResult is what was pushed.
type PushResult struct {
	// Repository is the normalized repository, e.g. ghcr.io/acme/agent.
	Repository string
	// Digest is the pushed index's (or image's) digest, sha256:….
	Digest string
	// Pinned is Repository@Digest.
	Pinned string
	// Platforms are the index's, e.g. linux/amd64, sorted.
	Platforms []string
	// References are repo:tag@sha256:…, one per tag, in the order given:
	// what deploy steps should pin.
	References []string
	// BlobsUploaded and BytesUploaded count the blobs (layers and configs)
	// sent; BlobsExisting those the registry already had.
	BlobsUploaded int
	BytesUploaded int64
	BlobsExisting int
	// Retries counts transient failures met (each retried while tries
	// remained).
	Retries  int
	Duration time.Duration
}

// Push pushes the image named opts.RefName in opts.LayoutDir to
// opts.Repository: by digest first, then each tag. Everything that can be
// checked without the network (the reference, the tags, the layout, the
// credentials' shape) is checked before the first request. Errors are
// *Error, one line.
func Push(ctx context.Context, opts PushOptions) (*PushResult, error) {
	start := time.Now()
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := opts.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	tries := defaultInt(opts.Tries, DefaultTries)
	backoff := defaultDuration(opts.Backoff, DefaultBackoff)
	jobs := defaultInt(opts.Jobs, DefaultJobs)
	interval := defaultDuration(opts.ProgressInterval, DefaultProgressInterval)

	// Secrets from the environment are known before anything can fail;
	// the resolved credentials join them below.
	scrub := secretsOf(getenv(EnvUsername), getenv(EnvPassword), getenv(EnvGitHubToken))
	scrub = append(scrub, secretsOf(getenv(EnvGitHubActor), getenv(EnvGitHubToken))...)
	scrub = append(scrub, secretsOf("x-access-token", getenv(EnvGitHubToken))...)
	target := opts.Repository
	fail := func(cause error, format string, args ...any) error {
		msg := "push to " + target + ": " + fmt.Sprintf(format, args...)
		return &Error{msg: oneLine(scrub.clean(msg)), cause: cause}
	}

	// The reference and the tags, before any I/O.
	repo, err := name.NewRepository(opts.Repository)
	if err != nil {
		return nil, fail(err, "%q is not a valid repository (%s): use registry/namespace/name, e.g. ghcr.io/acme/agent", opts.Repository, lastCause(err.Error()))
	}
	host := repo.RegistryStr()
	insecure := insecureRegistries(getenv)
	if insecure[normalizeRegistry(host)] {
		repo, err = name.NewRepository(opts.Repository, name.Insecure)
		if err != nil {
			return nil, fail(err, "%q is not a valid repository: %v", opts.Repository, err)
		}
	}
	target = repo.Name()
	var tags []name.Tag
	for _, t := range opts.Tags {
		if !validTag.MatchString(t) {
			return nil, fail(nil, "tag %q is not valid: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", t)
		}
		tags = append(tags, repo.Tag(t))
	}
	if u, p := getenv(EnvUsername), getenv(EnvPassword); (u == "") != (p == "") {
		if u == "" {
			return nil, fail(nil, "%s is set but %s is not: set both, or neither", EnvPassword, EnvUsername)
		}
		return nil, fail(nil, "%s is set but %s is not: set both, or neither", EnvUsername, EnvPassword)
	}
	roots, err := rootCAs(getenv)
	if err != nil {
		return nil, fail(err, "%v", err)
	}

	// The image, read and checked whole from the layout.
	img, err := openLayout(opts.LayoutDir, opts.RefName)
	if err != nil {
		return nil, fail(err, "%v", err)
	}

	// Credentials: resolved once, so their values can be scrubbed.
	kc := opts.Keychain
	if kc == nil {
		kc = Keychain(host, getenv)
	}
	auth, err := authn.Resolve(ctx, kc, repo)
	if err != nil {
		return nil, fail(err, "reading credentials for %s failed (%s): check the Docker config and its credential helpers", host, oneLine(err.Error()))
	}
	if cfg, err := authn.Authorization(ctx, auth); err != nil {
		return nil, fail(err, "reading credentials for %s failed (%s): check the Docker config and its credential helpers", host, oneLine(err.Error()))
	} else if cfg != nil {
		scrub = append(scrub, secretsOf(cfg.Username, cfg.Password, cfg.IdentityToken, cfg.RegistryToken)...)
		scrub = append(scrub, secretsOf("", cfg.Auth)...)
	}

	httpTransport := newHTTPTransport(roots, defaultDuration(opts.ResponseTimeout, DefaultResponseTimeout))
	defer httpTransport.CloseIdleConnections()
	var layersDone atomic.Int32
	obs := &observer{
		ctx:      ctx,
		inner:    httpTransport,
		insecure: insecure,
		uploaded: map[string]bool{},
		existing: map[string]bool{},
		onUpload: func(digest string) {
			b, ok := img.blobs[digest]
			if !ok || !b.layer {
				log.WithField("digest", digest).Debug("uploaded blob")
				return
			}
			n := layersDone.Add(1)
			log.WithFields(logrus.Fields{"digest": short(digest), "size": humanBytes(b.size)}).
				Infof("uploaded layer %d of %d", n, img.layers)
		},
	}
	var retries atomic.Int32
	var warned sync.Map
	predicate := func(err error) bool {
		if !obs.transient(err) {
			return false
		}
		retries.Add(1)
		msg := scrub.clean(oneLine(err.Error()))
		entry := log.WithFields(logrus.Fields{"registry": host, "max_tries": tries})
		if _, seen := warned.LoadOrStore(msg, true); seen {
			entry.Debugf("transient error, retrying: %s", msg)
		} else {
			entry.Warnf("transient error, retrying: %s", msg)
		}
		return true
	}

	updates := make(chan v1.Update, 64)
	progressDone := make(chan struct{})
	go logProgress(log, updates, img.totalBytes, interval, progressDone)
	pusher, err := remote.NewPusher(
		remote.WithAuth(auth),
		remote.WithTransport(obs),
		remote.WithRetryBackoff(remote.Backoff{Duration: backoff, Factor: 2, Jitter: 0.1, Steps: tries}),
		remote.WithRetryPredicate(predicate),
		remote.WithJobs(jobs),
		remote.WithProgress(updates),
		remote.WithUserAgent("agentship"),
	)
	if err != nil {
		close(updates)
		return nil, fail(err, "%v", err)
	}
	finish := func() {
		close(updates)
		<-progressDone
	}

	digestRef := repo.Digest(img.digest.String())
	log.WithFields(logrus.Fields{
		"platforms": strings.Join(img.platforms, ","),
		"blobs":     len(img.blobs),
		"size":      humanBytes(img.totalBytes),
	}).Infof("pushing %s", digestRef)

	// Phase 1: everything, by digest. Nothing is tagged yet, so a failure
	// here leaves no tag on a partial image; what was uploaded stays and
	// is skipped by the next push.
	if err := pusher.Push(ctx, digestRef, img.taggable); err != nil {
		finish()
		f := explain(ctx, err, host, target, tries, obs.answered.Load())
		if obs.wrote.Load() || f.retried {
			f.what += ", before any tag was written"
		}
		return nil, fail(err, "%s%s", f.what, withFix(f.fix))
	}

	// Phase 2: the tags, each a manifest PUT of the complete index (or
	// nothing, when the tag already points at it).
	res := &PushResult{
		Repository: target,
		Digest:     img.digest.String(),
		Pinned:     digestRef.String(),
		Platforms:  img.platforms,
	}
	var done []string
	for _, tag := range tags {
		if err := pusher.Push(ctx, tag, img.taggable); err != nil {
			finish()
			f := explain(ctx, err, host, target, tries, obs.answered.Load())
			written := "no tag written"
			if len(done) > 0 {
				written = "tags written: " + strings.Join(done, ", ")
			}
			return nil, fail(err, "pushed as %s, but tagging %s failed: %s (%s)%s",
				res.Pinned, tag.TagStr(), f.what, written, withFix(f.fix))
		}
		res.References = append(res.References, tag.String()+"@"+res.Digest)
		done = append(done, tag.TagStr())
	}
	finish()

	uploaded, existing := obs.counts()
	res.BlobsUploaded = len(uploaded)
	res.BlobsExisting = len(existing)
	for _, d := range uploaded {
		res.BytesUploaded += img.blobs[d].size
	}
	res.Retries = int(retries.Load())
	res.Duration = time.Since(start)
	summary := log.WithFields(logrus.Fields{
		"uploaded": fmt.Sprintf("%d blobs, %s", res.BlobsUploaded, humanBytes(res.BytesUploaded)),
		"took":     res.Duration.Round(time.Millisecond).String(),
	})
	if res.BlobsExisting > 0 {
		summary = summary.WithField("already present", res.BlobsExisting)
	}
	if res.Retries > 0 {
		summary = summary.WithField("retries", res.Retries)
	}
	if res.BlobsUploaded == 0 {
		summary.Infof("pushed %s (the registry had every blob already)", res.Pinned)
	} else {
		summary.Infof("pushed %s", res.Pinned)
	}
	for _, ref := range res.References {
		log.Infof("pushed %s", ref)
	}
	return res, nil
}

// withFix ends an error line with ": <fix>", when there is one.
func withFix(fix string) string {
	if fix == "" {
		return ""
	}
	return ": " + fix
}

var validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// layoutImage is the image to push, as found in the layout.
type layoutImage struct {
	taggable   remote.Taggable
	digest     v1.Hash
	platforms  []string
	blobs      map[string]blob // by digest: layers and configs
	layers     int
	totalBytes int64
}

type blob struct {
	size  int64
	layer bool
}

// openLayout finds refName in the layout at dir and checks that every blob
// the image needs is there, so that a broken layout fails before the
// network, not halfway through an upload.
func openLayout(dir, refName string) (*layoutImage, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("no OCI image layout at %s (%s): build the image first", dir, lastCause(err.Error()))
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("the OCI image layout at %s is unreadable (%s): rebuild the image", dir, lastCause(err.Error()))
	}
	im, err := root.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("the OCI image layout at %s is unreadable (%s): rebuild the image", dir, lastCause(err.Error()))
	}
	var desc *v1.Descriptor
	var names []string
	for i, d := range im.Manifests {
		n := d.Annotations[RefNameAnnotation]
		names = append(names, n)
		if n == refName || (refName == "" && len(im.Manifests) == 1) {
			desc = &im.Manifests[i]
			break
		}
	}
	if desc == nil {
		return nil, fmt.Errorf("no image named %q in %s (it has: %s): build it first", refName, dir, strings.Join(names, ", "))
	}

	li := &layoutImage{digest: desc.Digest, blobs: map[string]blob{}}
	missing := func(h v1.Hash) error {
		if _, err := os.Stat(filepath.Join(dir, "blobs", h.Algorithm, h.Hex)); err != nil {
			return fmt.Errorf("the OCI image layout at %s is incomplete (blob %s is missing): rebuild the image", dir, h)
		}
		return nil
	}
	var addImage func(img v1.Image) error
	addImage = func(img v1.Image) error {
		m, err := img.Manifest()
		if err != nil {
			return fmt.Errorf("the OCI image layout at %s is unreadable (%s): rebuild the image", dir, lastCause(err.Error()))
		}
		if _, ok := li.blobs[m.Config.Digest.String()]; !ok {
			li.blobs[m.Config.Digest.String()] = blob{size: m.Config.Size}
			li.totalBytes += m.Config.Size
		}
		if err := missing(m.Config.Digest); err != nil {
			return err
		}
		for _, l := range m.Layers {
			if !l.MediaType.IsDistributable() {
				continue
			}
			if _, ok := li.blobs[l.Digest.String()]; !ok {
				li.blobs[l.Digest.String()] = blob{size: l.Size, layer: true}
				li.layers++
				li.totalBytes += l.Size
			}
			if err := missing(l.Digest); err != nil {
				return err
			}
		}
		return nil
	}
	var addIndex func(idx v1.ImageIndex) error
	addIndex = func(idx v1.ImageIndex) error {
		m, err := idx.IndexManifest()
		if err != nil {
			return fmt.Errorf("the OCI image layout at %s is unreadable (%s): rebuild the image", dir, lastCause(err.Error()))
		}
		for _, d := range m.Manifests {
			if err := missing(d.Digest); err != nil {
				return err
			}
			li.totalBytes += d.Size
			switch {
			case d.MediaType.IsIndex():
				child, err := idx.ImageIndex(d.Digest)
				if err != nil {
					return fmt.Errorf("the OCI image layout at %s is unreadable (%s): rebuild the image", dir, lastCause(err.Error()))
				}
				if err := addIndex(child); err != nil {
					return err
				}
			case d.MediaType.IsImage():
				if d.Platform != nil {
					li.platforms = append(li.platforms, d.Platform.String())
				}
				img, err := idx.Image(d.Digest)
				if err != nil {
					return fmt.Errorf("the OCI image layout at %s is unreadable (%s): rebuild the image", dir, lastCause(err.Error()))
				}
				if err := addImage(img); err != nil {
					return err
				}
			}
		}
		return nil
	}

	if err := missing(desc.Digest); err != nil {
		return nil, err
	}
	li.totalBytes += desc.Size
	switch {
	case desc.MediaType.IsIndex():
		idx, err := root.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("the OCI image layout at %s is unreadable (%s): rebuild the image", dir, lastCause(err.Error()))
		}
		if err := addIndex(idx); err != nil {
			return nil, err
		}
		li.taggable = idx
	case desc.MediaType.IsImage():
		img, err := root.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("the OCI image layout at %s is unreadable (%s): rebuild the image", dir, lastCause(err.Error()))
		}
		if err := addImage(img); err != nil {
			return nil, err
		}
		li.taggable = img
	default:
		return nil, fmt.Errorf("%q in %s is a %s, not an image or an index: rebuild the image", refName, dir, desc.MediaType)
	}
	sort.Strings(li.platforms)
	return li, nil
}

// logProgress logs the bytes pushed every interval while they change, so a
// large upload shows it is alive without a line per chunk.
func logProgress(log logrus.FieldLogger, updates <-chan v1.Update, total int64, interval time.Duration, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var complete, logged int64
	for {
		select {
		case u, ok := <-updates:
			if !ok {
				return
			}
			if u.Error == nil {
				complete = u.Complete
			}
		case <-tick.C:
			if complete == logged || total <= 0 {
				continue
			}
			logged = complete
			pct := min(100, complete*100/total)
			log.Infof("pushing: %s of %s (%d%%)", humanBytes(complete), humanBytes(total), pct)
		}
	}
}

// WriteDigestFile writes digest and a newline to path atomically (a
// temporary file in the same directory, then a rename), so a deploy step
// reading it never sees half a digest.
func WriteDigestFile(path, digest string) error {
	if _, err := v1.NewHash(digest); err != nil {
		return fmt.Errorf("write %s: %q is not a digest (%v)", path, digest, err)
	}
	if err := atomicfile.WriteBytes(path, 0o644, []byte(digest+"\n")); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadDigestFile reads what WriteDigestFile wrote.
func ReadDigestFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	d := strings.TrimSpace(string(b))
	if _, err := v1.NewHash(d); err != nil {
		return "", fmt.Errorf("%s does not hold a digest: %w", path, err)
	}
	return d, nil
}

func short(digest string) string {
	if i := strings.IndexByte(digest, ':'); i >= 0 && len(digest) > i+13 {
		return digest[:i+13]
	}
	return digest
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func defaultInt(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

func defaultDuration(v, d time.Duration) time.Duration {
	if v <= 0 {
		return d
	}
	return v
}
