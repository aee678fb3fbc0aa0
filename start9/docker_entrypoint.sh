#!/bin/sh
# StartOS entrypoint: owns the data volume, keeps a generated admin secret for onboarding,
# publishes it as a service property, then runs igloo as UID 1000.
set -eu

DATA=/data
META="$DATA/start9"
mkdir -p "$META"
# The volume comes up root-owned; igloo itself never runs as root.
chown -R 1000:1000 "$DATA"
chmod 0700 "$DATA"

# The web UI on StartOS is not behind the OS login, so onboarding needs the admin secret.
SECRET_FILE="$META/admin_secret"
if [ ! -s "$SECRET_FILE" ]; then
    umask 077
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$SECRET_FILE"
fi
ADMIN_SECRET="$(cat "$SECRET_FILE")"
export ADMIN_SECRET

umask 077
cat > "$META/stats.yaml" <<STATS
version: 2
data:
  Admin secret:
    type: string
    value: "$ADMIN_SECRET"
    description: Asked once by the web UI to create the first (admin) user.
    copyable: true
    qr: false
    masked: true
STATS
chown -R 1000:1000 "$META"

exec setpriv --reuid=1000 --regid=1000 --clear-groups -- /usr/bin/tini -- /usr/local/bin/igloo serve
