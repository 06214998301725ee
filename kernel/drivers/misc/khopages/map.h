/* SPDX-License-Identifier: GPL-2.0 */
/* MAP (map.c): installing received folios into the caller. */
#ifndef _KHOPAGES_MAP_H
#define _KHOPAGES_MAP_H

struct khop_session;
struct khopages_map;

int khop_map_session(struct khop_session *s, struct khopages_map *arg);

#endif /* _KHOPAGES_MAP_H */
