# systemd/local.mk -- included by Makefile.am: units and their install rules.
