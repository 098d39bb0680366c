package pipeline

import (
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// NewLogger is the logger every agentship step writes to: human text on a
// terminal (colours when it is one), JSON lines when
// AGENTSHIP_LOG_FORMAT=json, debug lines when AGENTSHIP_VERBOSE is set.
func NewLogger(w io.Writer, getenv func(string) string) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(w)
	if strings.EqualFold(getenv("AGENTSHIP_LOG_FORMAT"), "json") {
		log.SetFormatter(&logrus.JSONFormatter{})
	} else {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: false, DisableTimestamp: false})
	}
	if v := getenv("AGENTSHIP_VERBOSE"); v != "" && v != "0" && v != "false" {
		log.SetLevel(logrus.DebugLevel)
	}
	return log
}

// DefaultLogger writes to stderr, configured from the environment.
func DefaultLogger() *logrus.Logger { return NewLogger(os.Stderr, os.Getenv) }

// Progress logs the start of a long step, then a line every interval until
// done is called, so a slow cold build never looks hung; done logs the step's
// time and returns it.
func Progress(log logrus.FieldLogger, step string, fields logrus.Fields, interval time.Duration) (done func() time.Duration) {
	start := time.Now()
	log.WithFields(fields).Info(step + " …")
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				log.WithFields(fields).WithField("elapsed", time.Since(start).Round(time.Second).String()).Info(step + " still running")
			}
		}
	}()
	return func() time.Duration {
		close(stop)
		<-stopped // no "still running" line after "done"
		d := time.Since(start)
		log.WithFields(fields).WithField("took", d.Round(time.Millisecond).String()).Info(step + " done")
		return d
	}
}
