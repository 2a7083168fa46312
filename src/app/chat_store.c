/* JSON conversation files (see chat_store.h), written and read with json-c. Without
 * json-c at build time (UE_HAVE_JSONC unset) both calls report that instead. */
#include "app/chat_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void chat_store_free(char *system, chat_store_msg *msgs, size_t n) {
    free(system);
    for (size_t i = 0; msgs && i < n; i++) {
        free(msgs[i].role);
        free(msgs[i].content);
        for (size_t j = 0; j < msgs[i].n_images; j++) free(msgs[i].images[j]);
        free(msgs[i].images);
    }
    free(msgs);
}

#ifdef UE_HAVE_JSONC
#include <json-c/json.h>

static int add_msg(json_object *arr, const char *role, const char *content,
                   chat_image *const *images, size_t n_images) {
    json_object *m = json_object_new_object();
    if (!m) return -1;
    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(m, "content", json_object_new_string(content));
    if (n_images) {
        json_object *paths = json_object_new_array();
        for (size_t i = 0; paths && i < n_images; i++)
            json_object_array_add(paths, json_object_new_string(chat_image_path(images[i])));
        if (!paths || json_object_array_length(paths) != n_images ||
            json_object_object_add(m, "images", paths) != 0) {
            json_object_put(paths);
            json_object_put(m);
            return -1;
        }
    }
    if (json_object_array_add(arr, m) != 0) {
        json_object_put(m);
        return -1;
    }
    return 0;
}

ue_status chat_store_save(const char *path, const char *model_name, const char *system,
                          const chat_message *msgs, size_t n, ue_error *err) {
    json_object *arr = json_object_new_array();
    int failed = !arr || (system && *system && add_msg(arr, "system", system, NULL, 0));
    for (size_t i = 0; !failed && i < n; i++)
        failed = add_msg(arr, msgs[i].role, msgs[i].content, msgs[i].images, msgs[i].n_images);
    json_object *root = failed ? NULL : json_object_new_object();
    if (!root) {
        json_object_put(arr);
        return ue_fail(err, UE_ERR_NOMEM, "out of memory building the JSON for %s", path);
    }
    json_object_object_add(root, "format", json_object_new_string("unicorn-chat"));
    json_object_object_add(root, "version", json_object_new_int(1));
    json_object_object_add(root, "model", json_object_new_string(model_name ? model_name : ""));
    json_object_object_add(root, "messages", arr);
    ue_status st = UE_OK;
    if (json_object_to_file_ext(path, root,
                                JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE) != 0)
        st = ue_fail(err, UE_ERR_IO, "cannot write %s: %s", path, json_util_get_last_err());
    json_object_put(root);
    return st;
}

/* v as a string without NUL bytes; what names it in errors. */
static ue_status as_string(json_object *v, const char *what, size_t index, const char **out,
                           ue_error *err) {
    if (!v || !json_object_is_type(v, json_type_string))
        return ue_fail(err, UE_ERR_FORMAT, "messages[%zu].%s: expected a string", index, what);
    const char *s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v))
        return ue_fail(err, UE_ERR_FORMAT, "messages[%zu].%s: contains a NUL character", index,
                       what);
    *out = s;
    return UE_OK;
}

/* The string member `key` of object o, checked. */
static ue_status get_string(json_object *o, const char *key, size_t index, const char **out,
                            ue_error *err) {
    json_object *v = NULL;
    json_object_object_get_ex(o, key, &v);
    return as_string(v, key, index, out, err);
}

/* The optional "images" member of message o (index i) into m, checked. */
static ue_status get_images(json_object *o, size_t i, int is_user, chat_store_msg *m,
                            ue_error *err) {
    json_object *arr = NULL;
    if (!json_object_object_get_ex(o, "images", &arr)) return UE_OK;
    if (!json_object_is_type(arr, json_type_array))
        return ue_fail(err, UE_ERR_FORMAT, "messages[%zu].images: expected an array of paths", i);
    size_t n = json_object_array_length(arr);
    if (n && !is_user)
        return ue_fail(err, UE_ERR_FORMAT, "messages[%zu].images: only user messages carry images",
                       i);
    if (n && !(m->images = calloc(n, sizeof *m->images)))
        return ue_fail(err, UE_ERR_NOMEM, "out of memory reading messages[%zu].images", i);
    for (size_t j = 0; j < n; j++) {
        const char *path = NULL;
        char what[32];
        snprintf(what, sizeof what, "images[%zu]", j);
        ue_status st = as_string(json_object_array_get_idx(arr, j), what, i, &path, err);
        if (st != UE_OK) return st;
        if (!(m->images[m->n_images] = strdup(path)))
            return ue_fail(err, UE_ERR_NOMEM, "out of memory reading messages[%zu].images", i);
        m->n_images++;
    }
    return UE_OK;
}

ue_status chat_store_load(const char *path, char **system, chat_store_msg **msgs_out,
                          size_t *n_out, ue_error *err) {
    *system = NULL;
    *msgs_out = NULL;
    *n_out = 0;
    json_object *root = json_object_from_file(path);
    if (!root) {
        const char *why = json_util_get_last_err();
        return ue_fail(err, UE_ERR_FORMAT, "cannot read %s: %s", path,
                       why ? why : "not valid JSON");
    }
    ue_status st = UE_OK;
    chat_store_msg *msgs = NULL;
    size_t n = 0;
    json_object *arr = NULL;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "messages", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        st = ue_fail(err, UE_ERR_FORMAT, "%s: expected an object with a \"messages\" array",
                     path);
        goto done;
    }
    size_t total = json_object_array_length(arr);
    msgs = calloc(total ? total : 1, sizeof *msgs);
    if (!msgs) {
        st = ue_fail(err, UE_ERR_NOMEM, "out of memory reading %s", path);
        goto done;
    }
    for (size_t i = 0; i < total; i++) {
        json_object *m = json_object_array_get_idx(arr, i);
        const char *role = NULL, *content = NULL;
        if (!json_object_is_type(m, json_type_object)) {
            st = ue_fail(err, UE_ERR_FORMAT, "messages[%zu]: expected an object", i);
            break;
        }
        if ((st = get_string(m, "role", i, &role, err)) != UE_OK) break;
        if ((st = get_string(m, "content", i, &content, err)) != UE_OK) break;
        if (!strcmp(role, "system")) {
            if (i != 0) {
                st = ue_fail(err, UE_ERR_FORMAT,
                             "messages[%zu]: a system message is only allowed first", i);
                break;
            }
            chat_store_msg none = {0}; /* an empty "images" is fine, a path is refused */
            if ((st = get_images(m, i, 0, &none, err)) != UE_OK) break;
            if (!(*system = strdup(content)))
                st = ue_fail(err, UE_ERR_NOMEM, "out of memory reading %s", path);
            if (st != UE_OK) break;
            continue;
        }
        if (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "model")) {
            st = ue_fail(err, UE_ERR_FORMAT,
                         "messages[%zu].role: \"%.32s\", expected system, user or assistant", i,
                         role);
            break;
        }
        msgs[n].role = strdup(role);
        msgs[n].content = strdup(content);
        n++;
        if (!msgs[n - 1].role || !msgs[n - 1].content) {
            st = ue_fail(err, UE_ERR_NOMEM, "out of memory reading %s", path);
            break;
        }
        if ((st = get_images(m, i, !strcmp(role, "user"), &msgs[n - 1], err)) != UE_OK) break;
    }
done:
    json_object_put(root);
    if (st != UE_OK) {
        chat_store_free(*system, msgs, n);
        *system = NULL;
        return st;
    }
    *msgs_out = msgs;
    *n_out = n;
    return UE_OK;
}

#else

ue_status chat_store_save(const char *path, const char *model_name, const char *system,
                          const chat_message *msgs, size_t n, ue_error *err) {
    (void)path, (void)model_name, (void)system, (void)msgs, (void)n;
    return ue_fail(err, UE_ERR_UNSUPPORTED,
                   "this build has no JSON support (install libjson-c-dev and rebuild)");
}

ue_status chat_store_load(const char *path, char **system, chat_store_msg **msgs, size_t *n,
                          ue_error *err) {
    (void)path;
    *system = NULL;
    *msgs = NULL;
    *n = 0;
    return ue_fail(err, UE_ERR_UNSUPPORTED,
                   "this build has no JSON support (install libjson-c-dev and rebuild)");
}

#endif
