# shellcheck shell=sh
# lvslab: remove the packages a setup installed with apt, and the dependencies that came with
# them, so the node's package list is the one it had before.
#   $1: the packages installed before that setup, space-separated
#   $2...: the packages it installed by name
# Purged, not only removed: a removed package stays in dpkg's list with its configuration. A
# dependency goes when nothing depends on it any more (apt's autoremove set, counting neither
# recommendations nor suggestions: a package setup brought that the node's own packages only
# suggest, as debconf suggests perl, came with setup all the same) and the node did not have it
# before; whatever else is in that set stays.
export DEBIAN_FRONTEND=noninteractive
before=" $1 "
shift
apt-get purge -y -q "$@" || exit
extra=
for p in $(apt-get -s -q -o APT::AutoRemove::RecommendsImportant=false \
        -o APT::AutoRemove::SuggestsImportant=false autoremove 2>/dev/null |
        sed -n 's/^Remv \([^ :]*\).*/\1/p'); do
    case $before in
        *" $p "*) ;;
        *) extra="$extra $p" ;;
    esac
done
if [ -n "$extra" ]; then
    # shellcheck disable=SC2086 # one word per package name
    apt-get purge -y -q $extra || exit
fi
# apt's sweep also keeps a package that a package the node had before accepts as one alternative
# of a dependency (bullseye's libpython3.9-stdlib depends on `media-types | mime-support`, and
# mime-support brings mailcap and perl), though setup brought it. What is still installed,
# marked automatic and not there before came with setup all the same: purge it too, but only
# when that removes nothing else.
auto=$(apt-mark showauto 2>/dev/null)
[ -z "$auto" ] && exit 0
left=
# shellcheck disable=SC2086 # one word per package name
for p in $(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' $auto 2>/dev/null |
        sed -n 's/^ii *\([^ :]*\).*/\1/p'); do
    case $before in
        *" $p "*) ;;
        *) left="$left $p" ;;
    esac
done
[ -z "$left" ] && exit 0
# shellcheck disable=SC2086 # one word per package name
would=$(apt-get -s -q purge $left 2>/dev/null) || exit 0
for p in $(printf '%s\n' "$would" | sed -n 's/^Purg \([^ :]*\).*/\1/p'); do
    case "$left " in
        *" $p "*) ;;
        *) exit 0 ;;
    esac
done
# shellcheck disable=SC2086 # one word per package name
apt-get purge -y -q $left
