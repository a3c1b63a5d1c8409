# systemd/local.mk -- included by Makefile.am: units and their install rules.
#
# Installs zcrecvd.service (made from zcrecvd.service.in with this build's
# sbindir and sysconfdir) and zcrecvd.socket into $(systemdsystemunitdir),
# which configure takes from pkg-config systemd, and the sysusers.d file
# that creates the zcrecvd user as $(sysusersdir)/zcrecvd.conf.  Nothing is
# enabled or started: that is the administrator's (or a package's) call.

# sysusersdir comes from configure (pkg-config systemd, or
# --with-sysusersdir), like the unit directory.

nodist_systemdsystemunit_DATA = systemd/zcrecvd.service
dist_systemdsystemunit_DATA = systemd/zcrecvd.socket
# Installed under the name sysusers.d(5) wants, hence a copy in the build
# tree rather than a rename in an install hook.
nodist_sysusers_DATA = systemd/sysusers.d/zcrecvd.conf

EXTRA_DIST += systemd/zcrecvd.service.in systemd/zcrecvd.sysusers \
	tools/nspawn-root.sh
CLEANFILES += systemd/zcrecvd.service systemd/sysusers.d/zcrecvd.conf

# The directories are substituted at make time, not by configure, so that
# "make prefix=..." and the GNU-standard fully expanded paths work
# ("Installation Directory Variables" in the autoconf manual).
systemd_edit = sed -e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g'

systemd/zcrecvd.service: $(srcdir)/systemd/zcrecvd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && rm -f $@ $@.tmp && \
	$(systemd_edit) $(srcdir)/systemd/zcrecvd.service.in >$@.tmp && \
	mv $@.tmp $@

systemd/sysusers.d/zcrecvd.conf: $(srcdir)/systemd/zcrecvd.sysusers
	$(AM_V_GEN)$(MKDIR_P) systemd/sysusers.d && \
	cp $(srcdir)/systemd/zcrecvd.sysusers $@

# distcheck installs into its own prefix and fails if anything lands
# outside it: point the unit directory, absolute from pkg-config, inside.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir="$$dc_install_base/$(systemdsystemunitdir)" \
	--with-sysusersdir="$$dc_install_base/$(sysusersdir)"

# Boots a minimal Debian under systemd-nspawn and drives zcrecvd.service
# with systemctl (root only; skips otherwise).
E2E_TESTS += tests/e2e-nspawn.sh
# Builds the Debian packages and installs, upgrades and purges them in
# such a container (root only; skips otherwise).
E2E_TESTS += tests/e2e-deb.sh
