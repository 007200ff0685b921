// Shared by the two player pages: where the playlist is, and which variant is the lowest.
function masterUrl() {
  return new URLSearchParams(window.location.search).get("src");
}
function lowestIndex(levels) {
  let lowest = 0;
  levels.forEach((level, i) => { if (level.bandwidth < levels[lowest].bandwidth) lowest = i; });
  return lowest;
}
