package targets

import (
	"github.com/sirupsen/logrus"

	"github.com/aixgo-dev/agentship/pipeline"
	"github.com/aixgo-dev/agentship/pipeline/daggerengine"
)

func newDaggerEngine(log *logrus.Logger) (pipeline.Engine, error) {
	return daggerengine.New(log), nil
}
