/* fsops-mail.c: the fsops sections that walk the exact file patterns of
 * Dovecot and Postfix, because mhafs treats some of them specially
 * (node-local tmp/, dovecot.index*, *.lock; commit out of tmp/):
 * Maildir delivery by rename and by link+unlink, flag changes by rename in
 * cur/, dotlocks by O_EXCL and by link with the nlink check, the uidlist
 * replaced by renaming its lock over it, index files rewritten by rename
 * and appended to, an mbox with a dotlock and O_APPEND. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsops.h"

#define OK 0

/* Write a file the way a delivery agent does: O_EXCL, write, fsync. */
static int deliver_tmp(const char *path, const char *body)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	size_t len = strlen(body);

	if (fd < 0)
		return -1;
	if (write(fd, body, len) != (ssize_t)len || fsync(fd) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

static void set_old(const char *path)
{
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		chk("utimensat (old)", -1, OK);
}

static int mtime_is(const char *path, time_t sec, long nsec)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && sb.st_mtim.tv_sec == sec && sb.st_mtim.tv_nsec == nsec;
}

static int mtime_is_recent(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0 && sb.st_mtim.tv_sec > time(NULL) - 10;
}

void t_maildir(void)
{
	struct timespec internal[2] = { { 1600000000, 0 }, { 1600000000, 123000000 } };

	section("maildir");
	chk("mkdir md", mkdir("md", 0700), OK);
	chk("mkdir md/tmp", mkdir("md/tmp", 0700), OK);
	chk("mkdir md/new", mkdir("md/new", 0700), OK);
	chk("mkdir md/cur", mkdir("md/cur", 0700), OK);
	set_old("md/new");
	/* Dovecot LDA/LMTP: tmp/ file, then rename into new/ */
	chk("deliver md/tmp/1.M1P1.host", deliver_tmp("md/tmp/1.M1P1.host", "From: a\n\nbody one\n"), OK);
	chk("utimensat md/tmp/1.M1P1.host (INTERNALDATE)", utimensat(AT_FDCWD, "md/tmp/1.M1P1.host", internal, 0), OK);
	chk("rename md/tmp/1.M1P1.host md/new/1.M1P1.host", rename("md/tmp/1.M1P1.host", "md/new/1.M1P1.host"), OK);
	st("md/new/1.M1P1.host");
	st_times("md/new/1.M1P1.host");
	cat("md/new/1.M1P1.host");
	expect("md/new mtime advanced by delivery", mtime_is_recent("md/new"), 1);
	/* Postfix local/virtual: link tmp -> new, then unlink tmp */
	chk("deliver md/tmp/2.V1I2.host", deliver_tmp("md/tmp/2.V1I2.host", "From: b\n\nbody two\n"), OK);
	chk("link md/tmp/2.V1I2.host md/new/2.V1I2.host", link("md/tmp/2.V1I2.host", "md/new/2.V1I2.host"), OK);
	st("md/new/2.V1I2.host");
	chk("unlink md/tmp/2.V1I2.host", unlink("md/tmp/2.V1I2.host"), OK);
	st("md/new/2.V1I2.host");
	cat("md/new/2.V1I2.host");
	/* a second delivery under an existing name must not replace it */
	chk("deliver md/tmp/2.V1I2.host again", deliver_tmp("md/tmp/2.V1I2.host", "other"), OK);
	chk("link md/tmp/2.V1I2.host md/new/2.V1I2.host (exists)", link("md/tmp/2.V1I2.host", "md/new/2.V1I2.host"), EEXIST);
	chk("renameat2 NOREPLACE tmp -> new (exists)", renameat2(AT_FDCWD, "md/tmp/2.V1I2.host", AT_FDCWD, "md/new/2.V1I2.host", RENAME_NOREPLACE), EEXIST);
	cat("md/new/2.V1I2.host");
	chk("unlink md/tmp/2.V1I2.host", unlink("md/tmp/2.V1I2.host"), OK);
	/* IMAP: new -> cur, flags by rename */
	set_old("md/cur");
	chk("rename new/1 cur/1:2,", rename("md/new/1.M1P1.host", "md/cur/1.M1P1.host:2,"), OK);
	chk("rename cur/1:2, cur/1:2,S", rename("md/cur/1.M1P1.host:2,", "md/cur/1.M1P1.host:2,S"), OK);
	chk("rename cur/1:2,S cur/1:2,RS", rename("md/cur/1.M1P1.host:2,S", "md/cur/1.M1P1.host:2,RS"), OK);
	/* the read above may have moved atime (relatime); mtime must stay */
	expect("INTERNALDATE (mtime) kept through the renames",
	       mtime_is("md/cur/1.M1P1.host:2,RS", 1600000000, 123000000), 1);
	expect("md/cur mtime advanced by flag change", mtime_is_recent("md/cur"), 1);
	/* expunge */
	chk("unlink md/new/2.V1I2.host", unlink("md/new/2.V1I2.host"), OK);
	ls("md/tmp");
	ls("md/new");
	ls("md/cur");
}

void t_dovecot_files(void)
{
	int fd, fd2;
	char *p;
	struct stat sb;

	section("dovecot-files");
	chk("mkdir dv", mkdir("dv", 0700), OK);
	chk("put dv/dovecot-uidlist", put("dv/dovecot-uidlist", "3 V1 N2\n1 a\n"), OK);
	/* dotlock: create the .lock exclusively, write the new content into
	 * it, rename it over the file */
	fd = (int)chk("open dv/dovecot-uidlist.lock O_EXCL", open("dv/dovecot-uidlist.lock", O_WRONLY | O_CREAT | O_EXCL, 0600), OK);
	chk("open dv/dovecot-uidlist.lock O_EXCL (held)", open("dv/dovecot-uidlist.lock", O_WRONLY | O_CREAT | O_EXCL, 0600), EEXIST);
	if (fd >= 0) {
		chk("write lock", write(fd, "3 V1 N3\n1 a\n2 b\n", 16), OK);
		chk("fdatasync lock", fdatasync(fd), OK);
		close(fd);
	}
	chk("rename dv/dovecot-uidlist.lock dv/dovecot-uidlist", rename("dv/dovecot-uidlist.lock", "dv/dovecot-uidlist"), OK);
	cat("dv/dovecot-uidlist");
	st("dv/dovecot-uidlist.lock");
	/* NFS-safe dotlock: link a unique temp file to the lock name, then
	 * trust the link count */
	chk("put dv/.temp.host.1", put("dv/.temp.host.1", "1"), OK);
	chk("link dv/.temp.host.1 dv/mbox.lock", link("dv/.temp.host.1", "dv/mbox.lock"), OK);
	st("dv/.temp.host.1");
	chk("put dv/.temp.host.2", put("dv/.temp.host.2", "2"), OK);
	chk("link dv/.temp.host.2 dv/mbox.lock (held)", link("dv/.temp.host.2", "dv/mbox.lock"), EEXIST);
	st("dv/.temp.host.2");
	chk("unlink dv/.temp.host.1", unlink("dv/.temp.host.1"), OK);
	chk("unlink dv/.temp.host.2", unlink("dv/.temp.host.2"), OK);
	/* mbox delivery under the dotlock: O_APPEND */
	chk("put dv/mbox", put("dv/mbox", "From a\n\n"), OK);
	fd = open("dv/mbox", O_WRONLY | O_APPEND);
	chk("append dv/mbox", write(fd, "From b\n\n", 8), OK);
	chk("fsync dv/mbox", fsync(fd), OK);
	if (fd >= 0)
		close(fd);
	chk("unlink dv/mbox.lock", unlink("dv/mbox.lock"), OK);
	cat("dv/mbox");
	/* index: written as .tmp, renamed over; log appended; mmap'ed */
	chk("put dv/dovecot.index.tmp", put("dv/dovecot.index.tmp", "INDEXv1"), OK);
	chk("rename dv/dovecot.index.tmp dv/dovecot.index", rename("dv/dovecot.index.tmp", "dv/dovecot.index"), OK);
	chk("put dv/dovecot.index.tmp", put("dv/dovecot.index.tmp", "INDEXv2"), OK);
	chk("rename dv/dovecot.index.tmp dv/dovecot.index (over)", rename("dv/dovecot.index.tmp", "dv/dovecot.index"), OK);
	fd = open("dv/dovecot.index", O_RDONLY);
	p = mmap(NULL, 7, PROT_READ, MAP_SHARED, fd, 0);
	chk("mmap dv/dovecot.index", p == MAP_FAILED ? -1 : 0, OK);
	if (p != MAP_FAILED) {
		expect("index map reads INDEXv2", memcmp(p, "INDEXv2", 7) == 0, 1);
		munmap(p, 7);
	}
	if (fd >= 0)
		close(fd);
	fd = (int)chk("open dv/dovecot.index.log O_CREAT|O_APPEND", open("dv/dovecot.index.log", O_RDWR | O_CREAT | O_APPEND, 0600), OK);
	fd2 = open("dv/dovecot.index.log", O_RDWR | O_APPEND);
	chk("append log (fd 1)", write(fd, "rec1;", 5), OK);
	chk("append log (fd 2)", write(fd2, "rec2;", 5), OK);
	chk("fstat log", fstat(fd, &sb), OK);
	say("log size via fstat=%lld", (long long)sb.st_size);
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	cat("dv/dovecot.index.log");
	chk("rename dv/dovecot.index.log dv/dovecot.index.log.2", rename("dv/dovecot.index.log", "dv/dovecot.index.log.2"), OK);
	/* a node-local file renamed to a replicated name and back */
	chk("put dv/dovecot-keywords.lock", put("dv/dovecot-keywords.lock", "0 Junk\n"), OK);
	chk("rename dv/dovecot-keywords.lock dv/dovecot-keywords", rename("dv/dovecot-keywords.lock", "dv/dovecot-keywords"), OK);
	chk("link dv/dovecot-keywords dv/keywords.lock", link("dv/dovecot-keywords", "dv/keywords.lock"), OK);
	st("dv/dovecot-keywords");
	chk("unlink dv/keywords.lock", unlink("dv/keywords.lock"), OK);
	st("dv/dovecot-keywords");
	ls("dv");
}
