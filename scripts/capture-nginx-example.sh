#!/usr/bin/env bash
# Regenerates examples/nginx_access.log, the real nginx access log behind the README's
# demo (`logpulse replay -r examples/rules.toml -s nginx examples/nginx_access.log`).
#
# A front server proxies to a backend that answers 200/404/500/503, to an upstream
# group where nothing listens (502, with an upstream time list `a, b`), and to a
# backend error that is retried through error_page (an upstream list `a : b`); some
# paths the front serves itself (no upstream: `$upstream_response_time` is `-`), and a
# rare rate-limited report is slow enough for examples/rules.toml's nginx_slow_api. wrk
# drives it for a few seconds at a low rate; the log is cut to at most 3000 lines so
# that the file stays small.
set -euo pipefail
cd "$(dirname "$0")/.."

NGINX=${NGINX:-/usr/sbin/nginx}
MAX_LINES=${MAX_LINES:-3000}
OUT=${OUT:-examples/nginx_access.log}
if [ ! -x "$NGINX" ] || ! command -v wrk >/dev/null 2>&1; then
    echo "capture-nginx-example: needs $NGINX and wrk; run scripts/install-test-deps.sh" >&2
    exit 1
fi

dir=$(mktemp -d)
nginx_pid=
cleanup() {
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -TERM "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

# All four at once so that the kernel cannot hand out the same free port twice.
read -r front back dead1 dead2 < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')

# mktemp's 0700 would keep nginx's workers (nobody, when started as root) out of the docroot.
chmod 755 "$dir"
mkdir -p "$dir/www" "$dir/tmp"
printf 'hello from nginx\n' >"$dir/www/index.html"
head -c 2048 /dev/zero | tr '\0' 'x' >"$dir/www/static.txt"
# Over limit_rate's first-second allowance, so the rest waits for nginx's next second tick.
head -c 108000 /dev/zero | tr '\0' 'r' >"$dir/www/report.json"

cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
# Not error: each request to the dead upstream would log two failed connects.
error_log $dir/error.log crit;
pid $dir/nginx.pid;
events { worker_connections 256; }
http {
    default_type text/plain;
    # The log_format of examples/rules.toml's nginx stream.
    log_format pulse '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" \$request_time \$upstream_response_time';
    access_log off;
    client_body_temp_path $dir/tmp/client;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    upstream backend { server 127.0.0.1:$back; keepalive 8; }
    # Nothing listens on either; max_fails=0 keeps nginx trying both every time.
    upstream dead { server 127.0.0.1:$dead1 max_fails=0; server 127.0.0.1:$dead2 max_fails=0; }

    server {
        listen 127.0.0.1:$back;
        root $dir/www;
        # Slow on purpose (up to 1 s), so that examples/rules.toml's nginx_slow_api has rows.
        location = /api/report { limit_rate 100k; try_files /report.json =404; }
        location = /api/users { return 200 '{"users":[]}\n'; }
        location = /api/orders { return 200 '{"orders":[]}\n'; }
        location = /api/missing { return 404 "not found\n"; }
        location = /api/crash { return 500 "boom\n"; }
        location = /api/busy { return 503 "busy\n"; }
        location / { return 200 "fallback\n"; }
    }

    server {
        listen 127.0.0.1:$front;
        access_log $dir/access.log pulse;
        root $dir/www;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /api/ { proxy_pass http://backend; }
        location /legacy/ { proxy_pass http://dead; }
        location = /checkout {
            proxy_pass http://backend/api/crash;
            proxy_intercept_errors on;
            error_page 500 = @retry;
        }
        location @retry { proxy_pass http://backend; }
        location = /old-home { return 301 /; }
        location = /healthz { return 204; }
    }
}
EOF

cat >"$dir/paths.lua" <<'EOF'
local ua_browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
local ua_curl = "curl/7.88.1"
local reqs = {
    { "GET", "/api/users", { ["User-Agent"] = ua_browser, ["Referer"] = "http://shop.example/" } },
    { "GET", "/api/orders?page=2&sort=desc", { ["User-Agent"] = ua_browser } },
    { "GET", "/", { ["User-Agent"] = ua_browser } },
    { "GET", "/static.txt", { ["User-Agent"] = ua_browser, ["Referer"] = "http://shop.example/" } },
    { "POST", "/api/users", { ["User-Agent"] = ua_curl, ["Content-Type"] = "application/json" }, '{"name":"ann"}' },
    { "GET", "/api/users", { ["User-Agent"] = ua_curl, ["Authorization"] = "Basic YWxpY2U6c2VjcmV0" } },
    { "GET", "/api/missing", { ["User-Agent"] = ua_curl } },
    { "GET", "/favicon.ico", { ["User-Agent"] = ua_browser } },
    { "GET", "/api/orders", { ["User-Agent"] = "probe \"quoted\" agent" } },
    { "GET", "/api/crash", { ["User-Agent"] = ua_browser } },
    { "GET", "/api/busy", { ["User-Agent"] = ua_browser } },
    { "GET", "/legacy/report", { ["User-Agent"] = ua_browser } },
    { "GET", "/checkout", { ["User-Agent"] = ua_browser, ["Referer"] = "http://shop.example/cart" } },
    { "GET", "/old-home", { ["User-Agent"] = ua_browser } },
    { "HEAD", "/healthz", { ["User-Agent"] = "kube-probe/1.29" } },
}
local report = { "GET", "/api/report?month=2026-10", { ["User-Agent"] = ua_browser } }
local i = 0
request = function()
    i = i + 1
    -- Rare, as slow requests are: each holds its connection for up to a second.
    local r = i % 200 == 0 and report or reqs[(i - 1) % #reqs + 1]
    return wrk.format(r[1], r[2], r[3], r[4])
end
-- A pause between a connection's requests keeps the rate low, so the lines spread over the run.
delay = function()
    return 1
end
EOF

"$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' &
nginx_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$front") 2>/dev/null; then break; fi
    kill -0 "$nginx_pid" 2>/dev/null || { cat "$dir/error.log" >&2; exit 1; }
    sleep 0.05
done

wrk -t1 -c2 -d3s -s "$dir/paths.lua" "http://127.0.0.1:$front/"

# SIGQUIT: nginx finishes what is in flight (and logs it) before it exits.
kill -QUIT "$nginx_pid"
wait "$nginx_pid" || true
nginx_pid=

head -n "$MAX_LINES" "$dir/access.log" >"$OUT"
echo "capture-nginx-example: wrote $(wc -l <"$OUT") lines, $(wc -c <"$OUT") bytes to $OUT" >&2
