# What the verification containers depend on, read in one command (tasks/verify.yml), and what they
# verified last. Run as `sh -c "$(cat this)" verify-state ENGINE IMAGE RECORDS BINARIES CONTEXT [USER:UID:HOME ...]`
# (CONTEXT: what else the verification depends on, in words of the role's: whether gVisor is registered).
# Prints one line a target (the engine as root, then each rootless user): "RECORD-NAME STATE-HASH RECORD",
# RECORD being the record file's content in base64, or "-". Anything it cannot read (no image, no
# daemon, no image store) counts as a fresh random value: such a state never matches a record.
set -u
engine=$1 image=$2 records=$3 binaries=$4 context=$5
shift 5
unknown() { cat /proc/sys/kernel/random/uuid; }
files() {
  for file; do
    if [ -f "$file" ]; then printf '%s %s\n' "$file" "$(sha256sum < "$file" | cut -d ' ' -f 1)"
    else printf '%s absent\n' "$file"; fi
  done
}
# The boot, and the engine's binaries as installed (an upgrade replaces them) and gVisor's wrapper.
common=$(
  echo "$context $image"
  cat /proc/sys/kernel/random/boot_id
  for binary in $binaries; do
    if path=$(command -v "$binary"); then stat -L -c '%n %i %s %Y' "$path"; else echo "$binary absent"; fi
  done
)
# The id of the image in a Podman image store's images.json: where Python or the image is missing, the
# whole file's hash stands in, or nothing (a failure) where the file is missing.
image_in() {
  [ -f "$1" ] || return 1
  if command -v python3 >/dev/null; then
    python3 -c 'import json, sys
ids = [entry["id"] for entry in json.load(open(sys.argv[1])) if sys.argv[2] in (entry.get("names") or [])]
print(ids[0]) if ids else sys.exit(1)' "$1" "$image" 2>/dev/null
  else files "$1"; fi
}
emit() {
  hash=$(printf '%s\n%s\n%s\n' "$1" "$common" "$2" | sha256sum | cut -d ' ' -f 1)
  record=$(base64 -w 0 < "$records/$1.json" 2>/dev/null) || record=
  echo "$1 $hash ${record:--}"
}
podman_config=$(files /etc/containers/containers.conf /etc/containers/containers.conf.d/* \
  /etc/containers/storage.conf /usr/share/containers/containers.conf /usr/share/containers/storage.conf)
if [ "$engine" = docker ]; then
  # The daemon that ran the container: its pid and start time (a restarted daemon is another one).
  pid=$(cat /var/run/docker.pid 2>/dev/null) || pid=
  started=$(cut -d ' ' -f 22 "/proc/${pid:-0}/stat" 2>/dev/null) || started=$(unknown)
  id=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) || id=$(unknown)
  emit docker "$(files /etc/docker/daemon.json)
dockerd $pid $started
image $id"
else
  id=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null) || id=$(unknown)
  emit podman "$podman_config
image $id"
fi
for user; do
  name=${user%%:*} rest=${user#*:}
  uid=${rest%%:*} home=${rest#*:}
  config=$home/.config/containers
  # The image's id in the user's image store, read as root (no Podman started as the user).
  store=$home/.local/share/containers/storage
  images=$(image_in "$store/overlay-images/images.json" || image_in "$store/vfs-images/images.json" || unknown)
  emit "podman-user-$name" "$podman_config
$(files "$config/containers.conf" "$config/storage.conf" "$config/registries.conf" "$config"/containers.conf.d/*)
$(grep "^$name:" /etc/subuid /etc/subgid)
tun $(stat -c '%a' /dev/net/tun 2>/dev/null)
run $(stat -c '%i %u %a' "/run/user/$uid" 2>/dev/null)
pause $(cat "/run/user/$uid/libpod/tmp/pause.pid" 2>/dev/null)
$images"
done
