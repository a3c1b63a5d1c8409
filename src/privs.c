/*
 * privs.c -- give up root for good.
 *
 * Started as root, the daemon binds its sockets and opens its directories
 * and logs, then becomes the configured user: setgroups, setresgid,
 * setresuid, an empty capability set in every set (libcap), the bounding
 * set emptied, no_new_privs; then it checks that none of it can be undone.
 * Started unprivileged (User= in the unit), it needs none of this and just
 * sheds any capability it was given.  Running as root is only allowed
 * when the configuration says user = root.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <sys/capability.h>

#include "zcrecvd.h"

/* Empty the bounding set (needs CAP_SETPCAP, so before the uid change). */
static int
privs_drop_bounding(char **cause)
{
	cap_value_t	 c;

	for (c = 0; c <= CAP_LAST_CAP; c++) {
		if (CAP_IS_SUPPORTED(c) && cap_drop_bound(c) == -1 &&
		    errno != EINVAL) {
			*cause = xasprintf("drop capability %d from the "
			    "bounding set: %s", c, strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/*
 * Clear the effective, permitted, inheritable and ambient sets.  Sets that
 * are already empty (started unprivileged) are left alone, so the unit's
 * seccomp filter need not allow capset(2).
 */
static int
privs_clear_caps(char **cause)
{
	cap_t	 caps, cur;
	int	 r = 0;

	if ((caps = cap_init()) == NULL)
		fatal("cap_init");
	if ((cur = cap_get_proc()) == NULL || cap_compare(cur, caps) != 0)
		r = cap_set_proc(caps);
	cap_free(cur);
	cap_free(caps);
	if (r == -1 || cap_reset_ambient() == -1) {
		*cause = xasprintf("clear capabilities: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* Check that the drop holds: no way back to root, no capability left. */
static int
privs_verify(uid_t uid, gid_t gid, char **cause)
{
	uid_t		 ru, eu, su;
	gid_t		 rg, eg, sg;
	cap_t		 caps, none;
	int		 same;

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid) {
		*cause = xasprintf("user or group ids did not change");
		return (-1);
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1 ||
	    setgid(0) != -1)) {
		*cause = xasprintf("could get root back");
		return (-1);
	}
	caps = cap_get_proc();
	none = cap_init();
	same = caps != NULL && none != NULL && cap_compare(caps, none) == 0;
	cap_free(caps);
	cap_free(none);
	if (!same) {
		*cause = xasprintf("capabilities left after the drop");
		return (-1);
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		*cause = xasprintf("no_new_privs not set");
		return (-1);
	}
	return (0);
}

/* Look up the user and group to become. */
static int
privs_lookup(const struct conf *c, uid_t *uid, gid_t *gid, char **cause)
{
	struct passwd	*pw;
	struct group	*gr;

	if ((pw = getpwnam(c->user)) == NULL) {
		*cause = xasprintf("user %s: no such user", c->user);
		return (-1);
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (c->group != NULL) {
		if ((gr = getgrnam(c->group)) == NULL) {
			*cause = xasprintf("group %s: no such group",
			    c->group);
			return (-1);
		}
		*gid = gr->gr_gid;
	}
	return (0);
}

/*
 * Become the configured user with no privileges at all.  Returns 0, or -1
 * with *cause; the caller exits.
 */
int
privs_drop(const struct conf *c, char **cause)
{
	uid_t	 uid = getuid();
	gid_t	 gid = getgid();

	if (c->user != NULL && privs_lookup(c, &uid, &gid, cause) == -1)
		return (-1);
	if (geteuid() == 0) {
		if (c->user == NULL) {
			*cause = xasprintf("started as root with no user "
			    "configured: set user = NAME in [server] (or "
			    "user = root to really run as root)");
			return (-1);
		}
		if (uid == 0) {
			log_warnx("running as root (user = root)");
			return (0);
		}
		if (privs_drop_bounding(cause) == -1)
			return (-1);
		if (setgroups(1, &gid) == -1 ||
		    setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1) {
			*cause = xasprintf("become %s: %s", c->user,
			    strerror(errno));
			return (-1);
		}
	} else if (c->user != NULL && uid != geteuid()) {
		*cause = xasprintf("user = %s, but not started as root: "
		    "cannot change user", c->user);
		return (-1);
	}
	if (privs_clear_caps(cause) == -1)
		return (-1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		*cause = xasprintf("no_new_privs: %s", strerror(errno));
		return (-1);
	}
	if (privs_verify(geteuid(), getegid(), cause) == -1)
		return (-1);
	log_info("running as uid %u gid %u, no capabilities",
	    (unsigned int)geteuid(), (unsigned int)getegid());
	return (0);
}
