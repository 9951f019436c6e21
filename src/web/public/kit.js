// What the console's and the developer portal's pages share, loaded by both (the console through console.js): times
// the server wrote in UTC read in the browser's own words and zone, and the Copy buttons beside values shown once.
// No inline script anywhere: the pages' Content Security Policy.

wireTimes(Array.from(document.querySelectorAll('time[data-time][datetime]')));
for (const button of document.querySelectorAll('button[data-copy]')) wireCopy(button);

// Times (src/web/time.ts): the server writes UTC; here each reads in the browser's own language and zone,
// "2 minutes ago" or "yesterday" (or the local date and time inside a sentence), with the full local time on hover.
function wireTimes(times) {
  if (!times.length || typeof Intl.RelativeTimeFormat !== 'function') return;
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });
  const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
  const startOfDay = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();

  const words = (date, now) => {
    const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 45) return relative.format(0, 'second');
    if (abs < 45 * 60) return relative.format(Math.round(seconds / 60), 'minute');
    if (abs < 20 * 3600) return relative.format(Math.round(seconds / 3600), 'hour');
    // Whole calendar days in the owner's zone, so last night at 23:00 is "yesterday".
    const days = Math.round((startOfDay(date) - startOfDay(now)) / 86_400_000);
    if (Math.abs(days) < 7) return relative.format(days, 'day');
    return day.format(date);
  };

  const render = () => {
    const now = new Date();
    for (const time of times) {
      const date = new Date(time.getAttribute('datetime'));
      if (Number.isNaN(date.getTime())) continue;
      time.textContent = time.dataset.time === 'absolute' ? local.format(date) : words(date, now);
      time.title = full.format(date);
    }
  };
  render();
  setInterval(render, 30_000);
}

// "Copy" beside a secret shown once (src/web/copy.ts): the button is hidden until this runs, copies the
// field it names, and says "Copied" on itself and to screen readers.
function wireCopy(button) {
  const field = document.getElementById(button.dataset.copy);
  const label = button.querySelector('[data-copy-label]');
  const status = button.parentElement?.querySelector('[data-copy-status]');
  if (!field || !label) return;
  button.hidden = false;
  let timer;
  button.addEventListener('click', async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch {
      // Without the asynchronous clipboard (an insecure origin, say): select the text and copy the old way.
      field.select();
      copied = document.execCommand('copy');
    }
    label.textContent = copied ? 'Copied' : 'Select and copy';
    if (status) status.textContent = copied ? 'Copied to the clipboard.' : 'Could not copy: select the text and copy it.';
    clearTimeout(timer);
    timer = setTimeout(() => {
      label.textContent = 'Copy';
      if (status) status.textContent = '';
    }, 4000);
  });
}
