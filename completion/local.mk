# completion/local.mk -- included by Makefile.am: bash completions.
#
# Installed into $(bashcompletiondir), which configure takes from
# pkg-config bash-completion (completionsdir), else
# $(datadir)/bash-completion/completions; bash-completion loads them on
# demand by the command's name.

dist_bashcompletion_DATA = completion/zcsend completion/zcrecvd

# Included after systemd/local.mk, which sets the variable: keep distcheck's
# install inside its prefix when the directory is absolute.
AM_DISTCHECK_CONFIGURE_FLAGS += \
	--with-bashcompletiondir="$$dc_install_base/$(bashcompletiondir)"
