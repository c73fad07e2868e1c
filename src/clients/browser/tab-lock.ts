// One tab runs the app (as WhatsApp Web does): the tab holding the Web Lock
// runs it; any other shows "QR Link is open in another window" with "Use
// here", which takes the lock over. The tab that loses the lock stops its app
// at once (sockets closed, nothing more written) and shows the same screen.
// IndexedDB writes are guarded too (writer-guarded-store.ts), for what a
// losing tab had already under way.
import { $ } from "./dom";

/** Stops the app this tab runs: closes its sockets and stops its timers. */
export type StopApp = () => void;

function showElsewhere(elsewhere: boolean): void {
  document.body.toggleAttribute("data-elsewhere", elsewhere);
}

/** Runs `startApp` each time this tab gains the lock `name`, and the function it returns when the tab loses it. */
export function runInOneTab(name: string, startApp: () => Promise<StopApp>): void {
  // Without Web Locks (an old browser) every tab runs; the guarded store still lets only the last one to start write.
  if (!("locks" in navigator)) return void startApp();
  const claim = (steal: boolean): void => {
    let stop: StopApp | null = null;
    let lost = false;
    navigator.locks
      .request(name, steal ? { steal: true } : { ifAvailable: true }, async (lock) => {
        if (!lock) return showElsewhere(true);
        showElsewhere(false);
        stop = await startApp();
        if (lost) stop();
        // Held until this tab closes or another takes it over.
        return new Promise<never>(() => {});
      })
      .catch((error: unknown) => {
        // Taken over with `steal`: this tab's request ends with an AbortError.
        if (!(error instanceof DOMException && error.name === "AbortError")) throw error;
        lost = true;
        stop?.();
        showElsewhere(true);
      });
  };
  $("use-here").addEventListener("click", () => claim(true));
  claim(false);
}
