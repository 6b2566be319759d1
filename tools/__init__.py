"""Developer tools run by the Makefile (make samples, make docs); not part of the package."""
