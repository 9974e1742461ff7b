/*
 * csvstat — statistiques par colonne d'un fichier CSV, en un seul passage.
 *
 * TP 05 : vous ne modifiez pas ce fichier, vous le compilez (étape « build »)
 * puis vous n'emportez que le binaire dans l'image finale.
 *
 * Usage : csvstat [-d SÉPARATEUR] [FICHIER]   (sans FICHIER, ou avec « - » : l'entrée standard)
 *
 * La première ligne donne les noms des colonnes. Pour chaque colonne, csvstat compte les
 * cellules remplies ; si toutes sont des nombres, il calcule aussi min, max, moyenne et
 * écart-type (algorithme de Welford : mémoire constante, même sur des Go de données).
 * Le résultat est un objet JSON sur la sortie standard, les erreurs vont sur stderr.
 *
 * L'analyse du CSV (guillemets, séparateurs dans les champs…) est confiée à la
 * bibliothèque libcsv : en-têtes `libcsv-dev` pour compiler, `libcsv3` pour exécuter.
 */
#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSVSTAT_VERSION "1.0.0"

struct column {
    char *name;
    size_t count;   /* cellules non vides */
    size_t numeric; /* cellules qui sont des nombres */
    double min, max, mean, m2;
};

struct state {
    struct column *cols;
    size_t ncols;
    size_t field;   /* rang du champ courant dans la ligne */
    size_t rows;    /* lignes de données (en-tête exclu) */
    int header_done;
};

static void die(const char *what)
{
    fprintf(stderr, "csvstat: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct column *column_at(struct state *s, size_t i)
{
    if (i >= s->ncols) {
        struct column *cols = realloc(s->cols, (i + 1) * sizeof *cols);
        if (!cols)
            die("mémoire");
        for (size_t k = s->ncols; k <= i; k++) {
            char name[32];
            snprintf(name, sizeof name, "colonne_%zu", k + 1);
            cols[k] = (struct column){.name = strdup(name)};
        }
        s->cols = cols;
        s->ncols = i + 1;
    }
    return &s->cols[i];
}

/* Un nombre décimal complet (« 12.5 », « -3e2 »), espaces autour tolérés ; pas nan ni inf. */
static int parse_number(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno == ERANGE || !isfinite(v))
        return 0;
    while (*end == ' ' || *end == '\t' || *end == '\r')
        end++;
    if (*end)
        return 0;
    *out = v;
    return 1;
}

static void on_field(void *data, size_t len, void *arg)
{
    struct state *s = arg;
    const char *text = data ? data : "";
    struct column *col = column_at(s, s->field++);
    if (!s->header_done) {
        free(col->name);
        col->name = strdup(text);
        return;
    }
    if (len == 0)
        return;
    col->count++;
    double v;
    if (!parse_number(text, &v))
        return;
    col->numeric++;
    if (col->numeric == 1 || v < col->min)
        col->min = v;
    if (col->numeric == 1 || v > col->max)
        col->max = v;
    double delta = v - col->mean;
    col->mean += delta / (double)col->numeric;
    col->m2 += delta * (v - col->mean);
}

static void on_row(int terminator, void *arg)
{
    (void)terminator;
    struct state *s = arg;
    if (s->header_done)
        s->rows++;
    s->header_done = 1;
    s->field = 0;
}

static void print_string(const char *text)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* Le plus court des %.15g, %.16g, %.17g qui relit exactement la même valeur (2.4, pas 2.3999…). */
static void print_number(double v)
{
    char text[32];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    fputs(text, stdout);
}

static void print_report(const struct state *s, const char *source)
{
    printf("{\n  \"source\": ");
    print_string(source);
    printf(",\n  \"rows\": %zu,\n  \"columns\": [", s->rows);
    for (size_t i = 0; i < s->ncols; i++) {
        const struct column *c = &s->cols[i];
        const char *type = c->count == 0 ? "empty" : c->numeric == c->count ? "number" : "text";
        printf("%s\n    {\"name\": ", i ? "," : "");
        print_string(c->name);
        printf(", \"type\": \"%s\", \"count\": %zu, \"missing\": %zu", type, c->count,
               s->rows > c->count ? s->rows - c->count : 0);
        if (type[0] == 'n') {
            printf(", \"min\": ");
            print_number(c->min);
            printf(", \"max\": ");
            print_number(c->max);
            printf(", \"mean\": ");
            print_number(c->mean);
            printf(", \"stddev\": ");
            if (c->numeric > 1)
                print_number(sqrt(c->m2 / (double)(c->numeric - 1)));
            else
                printf("null");
        }
        putchar('}');
    }
    printf("\n  ]\n}\n");
}

static void usage(FILE *out)
{
    fprintf(out, "csvstat " CSVSTAT_VERSION " (libcsv %d.%d.%d)\n"
                 "Usage : csvstat [-d SÉPARATEUR] [FICHIER]\n"
                 "Statistiques par colonne d'un CSV (première ligne : les noms des colonnes),\n"
                 "en JSON sur la sortie standard. Sans FICHIER ou avec « - » : l'entrée standard.\n",
            CSV_MAJOR, CSV_MINOR, CSV_RELEASE);
}

int main(int argc, char **argv)
{
    unsigned char delim = CSV_COMMA;
    const char *path = "-";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            printf("csvstat " CSVSTAT_VERSION "\n");
            return 0;
        } else if (!strcmp(argv[i], "-d") && i + 1 < argc && strlen(argv[i + 1]) == 1) {
            delim = (unsigned char)argv[++i][0];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }

    FILE *in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!in)
        die(path);

    struct csv_parser parser;
    if (csv_init(&parser, CSV_APPEND_NULL) != 0)
        die("libcsv");
    csv_set_delim(&parser, delim);

    struct state s = {0};
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (csv_parse(&parser, buf, n, on_field, on_row, &s) != n) {
            fprintf(stderr, "csvstat: %s: CSV invalide (%s)\n", path,
                    csv_strerror(csv_error(&parser)));
            return 1;
        }
    }
    if (ferror(in))
        die(path);
    csv_fini(&parser, on_field, on_row, &s);
    csv_free(&parser);

    print_report(&s, strcmp(path, "-") ? path : "stdin");
    return 0;
}
