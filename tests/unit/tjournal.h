/* tjournal.h: helpers for the journal unit tests: temporary directories,
 * a second (reading) SQLite connection, and catalog/journal row lookups. */
#ifndef MHAFS_TJOURNAL_H
#define MHAFS_TJOURNAL_H

#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "tcheck.h"

/* Remove name under dfd and everything beneath it, by descriptors: a
 * tree deeper than PATH_MAX (test_recover makes one) goes too, where
 * nftw stops at ENAMETOOLONG and leaves the directory behind. */
static inline void rm_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		unlinkat(dfd, name, 0);
		return;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			rm_at(dirfd(d), de->d_name);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static inline void rm_rf(const char *dir)
{
	rm_at(AT_FDCWD, dir);
}

static inline char *tmpdir(char *tmpl)
{
	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		exit(99);
	}
	return tmpl;
}

static inline sqlite3 *db_open_as(const char *state_dir, int flags)
{
	char p[4400];
	sqlite3 *db;
	snprintf(p, sizeof(p), "%s/journal.db", state_dir);
	if (sqlite3_open_v2(p, &db, flags, NULL) != SQLITE_OK) {
		fprintf(stderr, "open %s: %s\n", p, sqlite3_errmsg(db));
		exit(99);
	}
	return db;
}

static inline sqlite3 *db_reader(const char *state_dir)
{
	return db_open_as(state_dir, SQLITE_OPEN_READONLY);
}

/* For a test that plants an older database's shape. */
static inline sqlite3 *db_writer(const char *state_dir)
{
	return db_open_as(state_dir, SQLITE_OPEN_READWRITE);
}

/* One integer from sql with an optional text parameter; -999 if no row. */
static inline long long q_int(sqlite3 *db, const char *sql, const char *arg)
{
	sqlite3_stmt *s;
	long long v = -999;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
		return -998;
	}
	if (arg)
		sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static inline const char *q_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *s;
	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return buf;
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return buf;
}

struct trow {
	int found;
	char kind;
	int deleted;
	unsigned mode;
	long long size, mtime_ns;
	unsigned long long ino, hlc;
	int origin;
	char hash[HASH128_HEX]; /* "" when NULL */
};

static inline struct trow cat(sqlite3 *db, const char *path)
{
	struct trow r;
	sqlite3_stmt *s;
	memset(&r, 0, sizeof(r));
	if (sqlite3_prepare_v2(db, "SELECT kind, deleted, mode, size, mtime_ns, ino, hlc, origin, hash"
			       " FROM catalog WHERE path = ?1", -1, &s, NULL) != SQLITE_OK)
		return r;
	sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		r.found = 1;
		r.kind = (char)sqlite3_column_text(s, 0)[0];
		r.deleted = sqlite3_column_int(s, 1);
		r.mode = (unsigned)sqlite3_column_int64(s, 2);
		r.size = sqlite3_column_int64(s, 3);
		r.mtime_ns = sqlite3_column_int64(s, 4);
		r.ino = (unsigned long long)sqlite3_column_int64(s, 5);
		r.hlc = (unsigned long long)sqlite3_column_int64(s, 6);
		r.origin = sqlite3_column_int(s, 7);
		if (sqlite3_column_bytes(s, 8) == 16) {
			struct hash128 h;
			hash_from_bytes(sqlite3_column_blob(s, 8), &h);
			hash_hex(&h, r.hash);
		}
	}
	sqlite3_finalize(s);
	return r;
}

static inline const char *hex_of(const char *data, char *buf)
{
	struct hash128 h;
	hash_buf(data, strlen(data), &h);
	return hash_hex(&h, buf);
}

#endif
