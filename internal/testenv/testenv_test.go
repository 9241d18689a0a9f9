package testenv_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/racktrack/racktrack/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(testenv.WrapM(m))
}
