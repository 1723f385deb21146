package testenv

import "testing"

// The helpers take a TB; every *testing.T and *testing.B must be one.
var _ TB = testing.TB(nil)
