// Package planner decides the next single step for one service from its
// spec and an observed snapshot of HAProxy and Docker: Plan(spec, observed,
// now) returns a Decision. It is pure by construction: it imports only
// pkg/spec and pure packages of the standard library (no os, net, time.Now,
// clients or files), which TestPlannerImportsNoIO enforces. The reconcile
// package observes, executes the step and comes round again.
package planner
