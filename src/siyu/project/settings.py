"""Settings for every Siyu process.

SIYU_HOME (default ~/.siyu) holds the SQLite control plane, the DuckDB warehouse, secrets and uploads.
DATABASE_URL switches the control plane to PostgreSQL.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from siyu.core import keyfiles as _keyfiles

SIYU_HOME = Path(os.environ.get("SIYU_HOME") or Path.home() / ".siyu").expanduser().resolve()
SECRETS_DIR = SIYU_HOME / "secrets"
UPLOADS_DIR = SIYU_HOME / "uploads"
# SIYU_WAREHOUSE: a DuckDB file (the embedded default), or a Spark master for the data plane at scale:
# sc://host:15002 (Spark Connect), spark://host:7077, local[N], yarn, k8s://… (docs/deployment.md).
_WAREHOUSE = os.environ.get("SIYU_WAREHOUSE", "")
_SPARK_MASTERS = ("sc://", "spark://", "local", "yarn", "k8s://", "mesos://")
WAREHOUSE_ENGINE = "spark" if _WAREHOUSE.startswith(_SPARK_MASTERS) else "duckdb"
WAREHOUSE_PATH = Path(_WAREHOUSE) if _WAREHOUSE and WAREHOUSE_ENGINE == "duckdb" else SIYU_HOME / "warehouse.duckdb"
WAREHOUSE_SPARK_MASTER = _WAREHOUSE if WAREHOUSE_ENGINE == "spark" else ""
# Where Spark keeps the warehouse's tables (a directory or an object-store URI) and in which format.
WAREHOUSE_LOCATION = os.environ.get("SIYU_WAREHOUSE_LOCATION") or str(SIYU_HOME / "warehouse-spark")
WAREHOUSE_FORMAT = os.environ.get("SIYU_WAREHOUSE_FORMAT", "parquet")
for _dir in (SIYU_HOME, SECRETS_DIR, UPLOADS_DIR):
    _dir.mkdir(parents=True, exist_ok=True)
os.chmod(SECRETS_DIR, 0o700)


def _secret_file(name: str, nbytes: int) -> str:
    """Read a secret from SIYU_HOME/secrets, creating it (0600) on first use."""
    path = SECRETS_DIR / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(nbytes))
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SIYU_SECRET_KEY") or _secret_file("django_secret_key", 32)
# PII_KEY encrypts PII at rest (AES-GCM); MATCH_KEY keys the hashes used to match identifiers.
# Each comes from SIYU_<NAME> (an environment variable), SIYU_<NAME>_FILE (a file a secrets manager mounts,
# outside SIYU_HOME; refused when every user can read it) or SIYU_HOME/secrets (siyu.core.keyfiles).
# The PII key is a ring {id: hex} for rotation without downtime (`siyu keys`); PII_KEY_HEX is its newest key.
PII_KEY_SOURCE = _keyfiles.key_source("PII_KEY", SECRETS_DIR / "pii_key")
PII_KEY_RING = _keyfiles.read_ring(PII_KEY_SOURCE, "PII_KEY")
PII_KEY_HEX = PII_KEY_RING[max(PII_KEY_RING)]
_MATCH_KEY_RING = _keyfiles.read_ring(_keyfiles.key_source("MATCH_KEY", SECRETS_DIR / "match_key"), "MATCH_KEY")
if len(_MATCH_KEY_RING) != 1:
    raise _keyfiles.KeyFileError("the match key cannot be rotated yet: give exactly one key (docs/deployment.md)")
MATCH_KEY_HEX = next(iter(_MATCH_KEY_RING.values()))

DEBUG = os.environ.get("SIYU_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("SIYU_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
# Outbound calls (webhooks, channel providers) never go to a private, loopback, link-local, unique-local or
# multicast address (SSRF; siyu.engagement.messaging.channels.http) except to these hosts: names, addresses
# or networks, comma-separated (e.g. "hooks.brand.internal,10.2.0.0/16").
OUTBOUND_ALLOWED_HOSTS = [h.strip() for h in os.environ.get("SIYU_OUTBOUND_ALLOWED_HOSTS", "").split(",") if h.strip()]
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto (docs/deployment.md): requests it
# forwards are https ones, so that the console's forms pass Django's origin check.
if os.environ.get("SIYU_BEHIND_TLS_PROXY", "") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "axes",
    "siyu.core",
    "siyu.warehouse",
    "siyu.web",
    "siyu.outbox",
    "siyu.staff",
    "siyu.ingest",
    "siyu.identity",
    "siyu.customers",
    "siyu.privacy",
    "siyu.segments",
    "siyu.analytics",
    "siyu.engagement",
    "siyu.acquisition",
    "siyu.community",
    "siyu.loyalty",
    "siyu.surveys",
    "siyu.integrations",
    "siyu.members",
    "siyu.pipeline",
    "siyu.api",
    "siyu.console",
    "siyu.demo",
    "siyu.benchmarks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # before any view parses a body: the CSRF check's process_view reads a POST's fields
    "siyu.web.middleware.UploadSizeLimitMiddleware",
    # turns a login refused for too many failures into the lock-out page (last, as django-axes asks)
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "siyu.project.urls"
WSGI_APPLICATION = "siyu.project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    # health checks: a kept connection that PostgreSQL dropped (a restart) is replaced before a request or
    # a worker's poll uses it, instead of failing once per thread
    DATABASES = {
        "default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SIYU_HOME / "siyu.sqlite3",
            # WAL lets the CLI read job progress while the server writes; IMMEDIATE avoids
            # "database is locked" on lock upgrades between the web and worker threads.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; "
                "PRAGMA cache_size=-65536;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A process running jobs renews its lease (siyu.core.leases) every WORKER_LEASE / 4 seconds; one not renewed
# for WORKER_LEASE seconds died, and its jobs run again elsewhere, at most WORKER_MAX_ATTEMPTS times in all.
WORKER_LEASE = float(os.environ.get("SIYU_WORKER_LEASE", "60"))
WORKER_MAX_ATTEMPTS = int(os.environ.get("SIYU_WORKER_MAX_ATTEMPTS", "3"))

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [Path(__file__).resolve().parent.parent / "locale"]
TIME_ZONE = os.environ.get("SIYU_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# Identity resolution's guard (siyu.identity.guard): an identifier value is quarantined (kept on the records,
# never used to link them) when the records carrying it cannot all be one person. Limits per identifier type:
# `per_type` overrides the defaults below for one type ("landline" = a phone value that is a fixed line, other
# limits as "phone"); unionid, openid and external_userid default to 5 names and 200 records.
IDENTITY_GUARD = {
    "member_kinds": ["member", "contact", "generic"],  # records of which one person has one: cards, contacts, rows
    "max_member_names": 5,  # distinct names on such records
    "max_member_records": 20,  # such records, whatever their names
    "max_distinct_names": 10,  # distinct names on all records (orders too)
    "max_records": 1000,  # records of any kind (a walk-in card on every till sale)
    "max_customer_names": 30,  # a customer of more names is split at the values that bridge it
    "max_customer_values": 20,  # … or of more distinct values of one identifier type
    "per_type": {"landline": {"max_member_names": 1}},
}

# API: how long an Idempotency-Key is remembered (siyu.web.idempotency).
# Figures of a data version before the last one are shown, for at most this many seconds since they were
# computed, while the new ones are computed (siyu.web.cache)
STALE_FIGURES_SECONDS = float(os.environ.get("SIYU_STALE_FIGURES_SECONDS", "30"))
IDEMPOTENCY_KEY_TTL = timedelta(hours=float(os.environ.get("SIYU_IDEMPOTENCY_KEY_TTL_HOURS", "24")))
# A send its provider could not take (unreachable, 5xx, 429) is retried until this many hours after its
# slot, then fails for good (siyu.engagement.messaging.actions, "provider outages").
SEND_RETRY_HOURS = float(os.environ.get("SIYU_SEND_RETRY_HOURS", "24"))

# `siyu serve` resolves after every import and API batch (siyu.pipeline), this many seconds after the
# first of a burst so that the burst lands first; SIYU_RESOLVE_AFTER_IMPORT=0 leaves it to `siyu resolve`.
RESOLVE_AFTER_IMPORT = os.environ.get("SIYU_RESOLVE_AFTER_IMPORT", "1") != "0"
RESOLVE_AFTER_IMPORT_DELAY_SECONDS = float(os.environ.get("SIYU_RESOLVE_AFTER_IMPORT_DELAY", "2"))
# API batches are resolved at most once per this many seconds: the resolve the first batch of a stream asks
# for runs this long after it, the batches landing meanwhile join it, so that a stream of pushes is resolved
# once per interval instead of continuously (each resolve takes the cores the pushes need). Events of people
# already known (no new identifiers) ask for no resolve at all (siyu.pipeline.actions).
RESOLVE_AFTER_API_SECONDS = float(os.environ.get("SIYU_RESOLVE_AFTER_API_SECONDS", "60"))

# Rejected rows of imports (siyu.ingest.rejected) are deleted this many days after they were written.
REJECTED_ROWS_RETENTION_DAYS = float(os.environ.get("SIYU_REJECTED_ROWS_RETENTION_DAYS", "30"))


def _retention_days(kind: str) -> float | None:
    """SIYU_<KIND>_RETENTION_DAYS: how many days a kind of data is kept (`siyu retention`); unset or
    "forever": kept forever."""
    value = os.environ.get(f"SIYU_{kind}_RETENTION_DAYS", "").strip()
    return None if value in ("", "forever") else float(value)


# Retention per kind of data (siyu.core.retention; docs/deployment.md). The audit log is kept at least
# three years (PIPL art. 56): a shorter period is refused here and by the job.
RAW_ROWS_RETENTION_DAYS = _retention_days("RAW_ROWS")
TOUCHES_RETENTION_DAYS = _retention_days("TOUCHES")
CHAT_ARCHIVE_RETENTION_DAYS = _retention_days("CHAT_ARCHIVE")
AUDIT_LOG_RETENTION_DAYS = _retention_days("AUDIT_LOG")
EVENT_DELIVERIES_RETENTION_DAYS = _retention_days("EVENT_DELIVERIES")
OUTBOUND_EVENTS_RETENTION_DAYS = _retention_days("OUTBOUND_EVENTS")
if AUDIT_LOG_RETENTION_DAYS is not None and AUDIT_LOG_RETENTION_DAYS < 3 * 365:
    raise ImproperlyConfigured(
        f"SIYU_AUDIT_LOG_RETENTION_DAYS={AUDIT_LOG_RETENTION_DAYS:g} is below the minimum of 1095 days (three "
        "years: PIPL art. 56 keeps records of processing personal information that long)"
    )

# Import limits (siyu.ingest.readers.limits), each refused with a message naming the file and the limit, before
# any row of the file lands. A request (an upload through the console or the API) may carry at most UPLOAD_MAX_MB
# in all (checked before its body is read: siyu.web.middleware); a workbook (XLSX is a zip) is refused before it is parsed when its parts
# declare more than IMPORT_MAX_UNCOMPRESSED_MB, or a part larger than 1 MB inflates more than
# IMPORT_MAX_COMPRESSION_RATIO times (platform exports: 6-10 times; a zip bomb: hundreds); while a file is read,
# more than IMPORT_MAX_ROWS rows (Excel's own sheet holds at most 1,048,576), IMPORT_MAX_COLUMNS columns or a
# cell of more than IMPORT_MAX_CELL_CHARS characters (Excel's own limit) are refused.
UPLOAD_MAX_MB = float(os.environ.get("SIYU_UPLOAD_MAX_MB", "1024"))
IMPORT_MAX_UNCOMPRESSED_MB = float(os.environ.get("SIYU_IMPORT_MAX_UNCOMPRESSED_MB", "4096"))
IMPORT_MAX_COMPRESSION_RATIO = float(os.environ.get("SIYU_IMPORT_MAX_COMPRESSION_RATIO", "100"))
IMPORT_MAX_ROWS = int(os.environ.get("SIYU_IMPORT_MAX_ROWS", "10000000"))
IMPORT_MAX_COLUMNS = int(os.environ.get("SIYU_IMPORT_MAX_COLUMNS", "1000"))
IMPORT_MAX_CELL_CHARS = int(os.environ.get("SIYU_IMPORT_MAX_CELL_CHARS", "32767"))

# Loyalty (siyu.loyalty): points earned on an order become spendable this many days after payment (the
# refund window); a tier is reviewed this many days after it was reached, and a member who no longer meets its
# rule keeps it for the grace days; a refund of points already spent may leave a negative balance only when
# allowed (otherwise the shortfall is recorded on the compensating entry).
LOYALTY_REFUND_WINDOW_DAYS = int(os.environ.get("SIYU_LOYALTY_REFUND_WINDOW_DAYS", "7"))
LOYALTY_TIER_REVIEW_DAYS = int(os.environ.get("SIYU_LOYALTY_TIER_REVIEW_DAYS", "365"))
LOYALTY_TIER_GRACE_DAYS = int(os.environ.get("SIYU_LOYALTY_TIER_GRACE_DAYS", "30"))
LOYALTY_POINTS_REFUND_MAY_GO_NEGATIVE = os.environ.get("SIYU_LOYALTY_POINTS_REFUND_MAY_GO_NEGATIVE", "") == "1"

# The member centre (siyu.members): the address customers reach the server at, for links in messages
# (e.g. https://crm.brand.cn; without it `{member_link}` is not filled), and how long a sign-in link works.
MEMBER_CENTRE_URL = os.environ.get("SIYU_PUBLIC_URL", "")
MEMBER_LINK_MAX_AGE = int(os.environ.get("SIYU_MEMBER_LINK_MAX_AGE", str(7 * 24 * 3600)))

# Analytics page 7: stores open from the first to the second whole hour (local time); the page can override.
ANALYTICS_STORE_HOURS = (10, 22)

STATIC_URL = "/static/"
STATIC_ROOT = SIYU_HOME / "static"
MEDIA_ROOT = UPLOADS_DIR
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024

# Sign-in (siyu.staff.auth): after LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that
# username is locked out from that address for LOGIN_LOCKOUT_MINUTES (django-axes; a success resets the count).
# A bad API token counts the same way against its address; every failure and lock-out is in the audit log.
AUTHENTICATION_BACKENDS = [
    "siyu.staff.auth.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("SIYU_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("SIYU_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "siyu.staff.auth.lockout_response"
AXES_VERBOSE = False
# Behind the TLS proxy every request comes from the proxy: the client's address is the last one of
# X-Forwarded-For, the one the proxy added (siyu.staff.auth.client_address).
BEHIND_TLS_PROXY = os.environ.get("SIYU_BEHIND_TLS_PROXY", "") == "1"
AXES_CLIENT_IP_CALLABLE = "siyu.staff.auth.client_address"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Production (SIYU_DEBUG unset): cookies only over HTTPS when served behind TLS (the proxy redirects http), never readable by scripts
# (the CSRF token is read from the form, not the cookie), and the browser told not to sniff types, frame the
# console or send the referrer elsewhere.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = int(os.environ.get("SIYU_SESSION_HOURS", "12")) * 3600
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    CSRF_COOKIE_HTTPONLY = True
    if os.environ.get("SIYU_BEHIND_TLS_PROXY", "") == "1":
        SESSION_COOKIE_SECURE = True
        CSRF_COOKIE_SECURE = True
        SECURE_HSTS_SECONDS = int(os.environ.get("SIYU_HSTS_SECONDS", str(180 * 24 * 3600)))
        SECURE_HSTS_INCLUDE_SUBDOMAINS = False  # the brand's other hosts are not ours to decide

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"siyu": {"handlers": ["console"], "level": os.environ.get("SIYU_LOG_LEVEL", "WARNING")}},
}
