#!/usr/bin/env bash
# Re-extract the message template from the source and merge it into every catalog.
#
#   bash locales/update.sh            # uses `pybabel` from PATH
#   PYBABEL=/path/to/pybabel bash locales/update.sh
#
# Existing translations are kept; messages no longer in the source are dropped (not kept as
# obsolete "#~" entries), and new messages are added untranslated (no fuzzy guesses).
# Missing catalogs are created. (The catalogs keep their POT-Creation-Date, so an update that
# changes no message leaves them untouched.) Then translate the new, empty msgstr entries in
# locales/es/LC_MESSAGES/carebot.po (the English catalog keeps msgstr empty on purpose).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYBABEL="${PYBABEL:-pybabel}"
DOMAIN=carebot
TEMPLATE="locales/${DOMAIN}.pot"
LANGUAGES=(en es)

"$PYBABEL" extract -F babel.cfg -k _ -k prompt -k closing --no-location --sort-output --project "$DOMAIN" \
    -o "$TEMPLATE" .

for lang in "${LANGUAGES[@]}"; do
    catalog="locales/${lang}/LC_MESSAGES/${DOMAIN}.po"
    if [[ -f "$catalog" ]]; then
        "$PYBABEL" update -i "$TEMPLATE" -d locales -D "$DOMAIN" -l "$lang" \
            --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
    else
        "$PYBABEL" init -i "$TEMPLATE" -d locales -D "$DOMAIN" -l "$lang"
    fi
done
