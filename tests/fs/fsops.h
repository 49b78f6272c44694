/* fsops.h: shared helpers of the fsops test program (tests/fs/fsops*.c).
 * fsops runs a fixed script of filesystem operations in a directory and
 * prints a transcript that contains only what must be identical on ext4
 * and on an mhafs mount: results, errno names, and the stat fields that are
 * deterministic.  Where POSIX/Linux fixes the answer, the transcript line
 * also carries "UNEXPECTED" when the answer differs. */
#ifndef MHAFS_FSOPS_H
#define MHAFS_FSOPS_H

#include <stddef.h>
#include <sys/types.h>

/* Number of UNEXPECTED results so far (in this process). */
extern int fsops_unexpected;

/* Start a section of the transcript. */
void section(const char *name);
/* Print one transcript line (a newline is added). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Name of an errno value ("EEXIST"); "ok" for 0. */
const char *ename(int e);
/* Report the result of a call: ret < 0 means failure with errno.  want is
 * the expected errno (0 for success, -1 for "do not judge").  Returns ret. */
long chk(const char *what, long ret, int want);
/* Like chk for calls that return an error number (posix_fallocate...). */
int chk_rc(const char *what, int rc, int want);
/* A boolean expectation: prints "what: yes|no" and flags a mismatch. */
void expect(const char *what, int got, int want);
/* lstat(path) and print type, mode, nlink, size, uid, gid. */
void st(const char *path);
/* The same for an open fd (fstat). */
void st_fd(const char *tag, int fd);
/* lstat(path) and print atime and mtime with nanoseconds. */
void st_times(const char *path);
/* Inode number of path (0 if it does not exist). */
ino_t ino_of(const char *path);
/* Print the sorted directory listing with entry types. */
void ls(const char *dir);
/* Print the file's content, escaped, and its length. */
void cat(const char *path);
/* Write a whole file (O_CREAT|O_TRUNC, mode 0644); returns 0 or -1. */
int put(const char *path, const char *data);
/* fork(); the child runs fn(arg), flushes stdout and exits 0.  The parent
 * gets the pid.  stdout is flushed first so nothing is printed twice. */
pid_t spawn(void (*fn)(void *), void *arg);
/* Wait for a child started by spawn; complains if it did not exit 0. */
void reap(pid_t pid);
/* Sleep for ms milliseconds. */
void msleep(long ms);
/* Monotonic milliseconds. */
long now_ms(void);

/* The sections, in transcript order (fsops-ops.c, fsops-mail.c,
 * fsops-proc.c). */
void t_create(void);
void t_link(void);
void t_rename_files(void);
void t_rename_dirs(void);
void t_renameat2(void);
void t_unlink(void);
void t_mkdir_rmdir(void);
void t_times(void);
void t_sync(void);
void t_xattr(void);
void t_symlink(void);
void t_truncate(void);
void t_append(void);
void t_pread_pwrite(void);
void t_mmap(void);
void t_chmod_chown(void);
void t_fallocate(void);
void t_statfs(void);
void t_readdir(void);
void t_maildir(void);
void t_dovecot_files(void);
void t_fcntl_locks(void);
void t_ofd_locks(void);
void t_flock(void);
void t_nonroot(void);
void t_races(void);
void t_bigfile(void);
void t_readdir_concurrent(void);

#endif
