// Package daggerengine runs a pipeline.Plan in Dagger: the same plan as the
// local engine, executed in containers with cache volumes, so that a laptop
// and any CI produce the same build.
//
// The package has two layers. The building blocks (Builder, Production,
// Debug, Lambda, Publish) take a Dagger client and the plan and return
// Dagger objects, lazily, for people composing their own Dagger pipelines.
// The Engine (New) is the pipeline.Engine that agentship's Mage targets use:
// it connects, calls the blocks, and exports into the same dist/ files the
// local engine writes.
package daggerengine

import (
	"dagger.io/dagger"
	"dagger.io/dagger/dag"
)

// Client is the part of the Dagger API the building blocks call. A
// *dagger.Client from dagger.Connect is one; Dag is the global client of
// the dagger.io/dagger/dag package.
type Client interface {
	Container(opts ...dagger.ContainerOpts) *dagger.Container
	Directory() *dagger.Directory
	CacheVolume(key string, opts ...dagger.CacheVolumeOpts) *dagger.CacheVolume
	Host() *dagger.Host
	Secret(uri string, opts ...dagger.SecretOpts) *dagger.Secret
}

var _ Client = (*dagger.Client)(nil)

// Dag is the dagger.io/dagger/dag package's global client as a Client, for
// code that uses dag rather than a client of its own. It connects on first
// use.
var Dag Client = dagClient{}

type dagClient struct{}

func (dagClient) Container(opts ...dagger.ContainerOpts) *dagger.Container {
	return dag.Container(opts...)
}
func (dagClient) Directory() *dagger.Directory { return dag.Directory() }
func (dagClient) CacheVolume(key string, opts ...dagger.CacheVolumeOpts) *dagger.CacheVolume {
	return dag.CacheVolume(key, opts...)
}
func (dagClient) Host() *dagger.Host { return dag.Host() }
func (dagClient) Secret(uri string, opts ...dagger.SecretOpts) *dagger.Secret {
	return dag.Secret(uri, opts...)
}
