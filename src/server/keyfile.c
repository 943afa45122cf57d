/* keyfile.c — see keyfile.h.  File handling follows OpenBSD signify: O_NOFOLLOW, O_EXCL,
 * mode 0600, wipe what held a key. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/keyfile.h"

#define KEYFILE_MAX 65536

/* Read the whole file at path into buf (size bytes) if it exists: 1 = read, 0 = absent,
 * -1 = error (why set). */
static int read_secret_file(const char *path, char *buf, size_t size, size_t *len, char *why,
                            size_t why_size)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(why, why_size, "%s: %s%s", path, strerror(errno),
		         errno == ELOOP ? " (a symbolic link is refused)" : "");
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, why_size, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(why, why_size, "%s: readable by others; run: chmod 600 %s", path, path);
		close(fd);
		return -1;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, why_size, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == size - 1) {
			snprintf(why, why_size, "%s: too large", path);
			close(fd);
			return -1;
		}
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return 1;
}

/*
 * Create path holding text, whole or not at all: the text goes to a new file beside it
 * (mkostemp: O_EXCL, mode 0600), then is linked to path, which fails if path exists.  Another
 * process on its first run on the same directory may make path meanwhile: then it reads that
 * file, complete, and never one half written.  The directory (dir) is synced after the link,
 * so that its entry is on disk before anything is sealed under the key (else a power loss
 * could keep sealed data and lose the key).  0 = path exists now (made here or meanwhile),
 * -1 = error (why set).
 */
static int write_secret_file(const char *dir, const char *path, const char *text, size_t len,
                             char *why, size_t why_size)
{
	char tmp[1040];
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(why, why_size, "%s: path too long", path);
		return -1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_size, "cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(why, why_size, "cannot write %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		snprintf(why, why_size, "cannot write %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (link(tmp, path) != 0 && errno != EEXIST) {
		snprintf(why, why_size, "cannot create %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	unlink(tmp);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		snprintf(why, why_size, "cannot sync the directory of %s: %s", path,
		         strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

static enum pa_err missing(const char *path, char *why, size_t why_size)
{
	snprintf(why, why_size,
	         "%s is missing, but the store already has accounts, or keys a node recorded: "
	         "copy the key file from a node of this store, or restore it from your backup "
	         "(without it no sealed secret or stored code can be checked); Pahara will not "
	         "make a new one over existing data",
	         path);
	return PA_ERR_KEY_FILE;
}

static enum pa_err load_master(const char *dir, bool may_create, struct seal_keyring *kr, char *buf,
                               char *why, size_t why_size)
{
	char path[1024];
	if (snprintf(path, sizeof(path), "%s/master.key", dir) >= (int)sizeof(path)) {
		snprintf(why, why_size, "data directory path too long");
		return PA_ERR_INVALID_ARGUMENT;
	}
	size_t len = 0;
	int r = read_secret_file(path, buf, KEYFILE_MAX, &len, why, why_size);
	if (r == 0) {
		if (!may_create)
			return missing(path, why, why_size);
		/* A new key, in a keyring of its own: the file that ends up at path, made here or
		 * by another process meanwhile, is read into kr below. */
		struct seal_keyring *made = NULL;
		uint32_t id;
		enum pa_err e = seal_keyring_new(&made);
		if (e == PA_OK)
			e = seal_keyring_add_new(made, &id);
		if (e == PA_OK)
			e = seal_keyfile_format(made, buf, KEYFILE_MAX, &len);
		seal_keyring_free(made);
		if (e != PA_OK) {
			snprintf(why, why_size, "cannot make a master key: %s", pa_err_message(e));
			return e;
		}
		if (write_secret_file(dir, path, buf, len, why, why_size) != 0)
			return PA_ERR_INVALID_ARGUMENT;
		r = read_secret_file(path, buf, KEYFILE_MAX, &len, why, why_size);
	}
	if (r < 0)
		return PA_ERR_INVALID_ARGUMENT;
	if (r == 0)
		return missing(path, why, why_size);
	size_t line = 0;
	enum pa_err e = seal_keyfile_parse(kr, buf, len, &line);
	if (e != PA_OK)
		snprintf(why, why_size, "%s:%zu: %s", path, line, pa_err_message(e));
	return e;
}

static enum pa_err load_codehash(const char *dir, bool may_create,
                                 uint8_t key[SECRETCODE_KEY_BYTES], char *buf, char *why,
                                 size_t why_size)
{
	static const char prefix[] = "pahara-codehash v1 ";
	char path[1024];
	if (snprintf(path, sizeof(path), "%s/codehash.key", dir) >= (int)sizeof(path)) {
		snprintf(why, why_size, "data directory path too long");
		return PA_ERR_INVALID_ARGUMENT;
	}
	size_t len = 0;
	int r = read_secret_file(path, buf, KEYFILE_MAX, &len, why, why_size);
	if (r == 0) {
		if (!may_create)
			return missing(path, why, why_size);
		/* Like the master key: whatever file ends up at path is read below. */
		randombytes_buf(key, SECRETCODE_KEY_BYTES);
		memcpy(buf, prefix, sizeof(prefix) - 1);
		sodium_bin2hex(buf + sizeof(prefix) - 1, 2 * SECRETCODE_KEY_BYTES + 1, key,
		               SECRETCODE_KEY_BYTES);
		sodium_memzero(key, SECRETCODE_KEY_BYTES);
		len = sizeof(prefix) - 1 + 2 * SECRETCODE_KEY_BYTES;
		buf[len++] = '\n';
		if (write_secret_file(dir, path, buf, len, why, why_size) != 0)
			return PA_ERR_INVALID_ARGUMENT;
		r = read_secret_file(path, buf, KEYFILE_MAX, &len, why, why_size);
	}
	if (r < 0)
		return PA_ERR_INVALID_ARGUMENT;
	if (r == 0)
		return missing(path, why, why_size);
	size_t bin_len = 0;
	const char *end = NULL;
	if (len < sizeof(prefix) - 1 || memcmp(buf, prefix, sizeof(prefix) - 1) != 0 ||
	    sodium_hex2bin(key, SECRETCODE_KEY_BYTES, buf + sizeof(prefix) - 1,
	                   len - (sizeof(prefix) - 1), NULL, &bin_len, &end) != 0 ||
	    bin_len != SECRETCODE_KEY_BYTES || (*end != '\n' && *end != '\0')) {
		snprintf(why, why_size, "%s: expected one line 'pahara-codehash v1 HEX64'", path);
		sodium_memzero(key, SECRETCODE_KEY_BYTES);
		return PA_ERR_INVALID_ARGUMENT;
	}
	return PA_OK;
}

enum pa_err keyfile_load(const char *dir, bool may_create, struct seal_keyring **kr,
                         uint8_t code_key[SECRETCODE_KEY_BYTES], char *why, size_t why_size)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, why_size, "cannot create %s: %s", dir, strerror(errno));
		return PA_ERR_INVALID_ARGUMENT;
	}
	char *buf = sodium_malloc(KEYFILE_MAX);
	if (!buf)
		return PA_ERR_NOMEM;
	enum pa_err e = seal_keyring_new(kr);
	if (e == PA_OK)
		e = load_master(dir, may_create, *kr, buf, why, why_size);
	if (e == PA_OK)
		e = load_codehash(dir, may_create, code_key, buf, why, why_size);
	sodium_free(buf); /* wipes */
	if (e != PA_OK) {
		seal_keyring_free(*kr);
		*kr = NULL;
		return e;
	}
	seal_keyring_freeze(*kr);
	return PA_OK;
}
