// Package docs holds admit's documentation (architecture.md,
// performance.md, tickets.md) and the tests that keep it true: the package
// map in architecture.md lists exactly the packages of the module, and
// the dependency rules it states hold for every import. It has no code.
package docs
