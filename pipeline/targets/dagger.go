package targets

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/aixgo-dev/agentship/pipeline"
)

func newDaggerEngine(log *logrus.Logger) (pipeline.Engine, error) {
	return nil, fmt.Errorf("the Dagger engine is not part of this build yet: use AGENTSHIP_ENGINE=local")
}
