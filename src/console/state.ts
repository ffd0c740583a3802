// What the whole console shares while signed in: the session, the live event stream (one
// connection, kept across pages so switching pages loses no events) and its recent events.
import { api, loadSession, saveSession, type Session } from "./api";
import type { LiveEvent } from "../wire";
import { EventStream, type StreamStatus } from "./sse";

export const RECENT_MAX = 300;

type Listener<T> = (v: T) => void;

class Hub {
  session: Session | null = loadSession();
  recent: LiveEvent[] = []; // newest first
  streamStatus: StreamStatus = "stopped";
  private stream: EventStream | null = null;
  private eventListeners = new Set<Listener<LiveEvent>>();
  private statusListeners = new Set<Listener<StreamStatus>>();
  onSignedOut: (message?: string) => void = () => {};

  signIn(s: Session): void {
    this.session = s;
    saveSession(s);
    this.startStream();
  }

  /** Forgets the session locally (and stops the stream); sign-out also revokes it first. */
  forget(message?: string): void {
    this.stream?.stop();
    this.stream = null;
    this.recent = [];
    this.statusListeners.clear();
    this.eventListeners.clear();
    this.session = null;
    saveSession(null);
    this.onSignedOut(message);
  }

  async signOut(revoke: boolean): Promise<void> {
    if (revoke && this.session) {
      try {
        await api("DELETE", "/api/v1/auth/token", undefined, { quiet401: true });
      } catch {
        // Already revoked or expired: signing out locally is all that is left to do.
      }
    }
    this.forget(revoke ? "Signed out; the token is revoked." : "Signed out on this browser.");
  }

  startStream(): void {
    if (this.stream || !this.session) return;
    this.stream = new EventStream(
      () => this.session?.token ?? null,
      (e) => {
        this.recent.unshift(e);
        if (this.recent.length > RECENT_MAX) this.recent.length = RECENT_MAX;
        for (const l of this.eventListeners) l(e);
      },
      (s) => {
        this.streamStatus = s;
        for (const l of this.statusListeners) l(s);
      },
      () => this.forget("Your session has ended; sign in again."),
    );
    this.stream.start();
  }

  onEvent(l: Listener<LiveEvent>): () => void {
    this.eventListeners.add(l);
    return () => this.eventListeners.delete(l);
  }

  onStreamStatus(l: Listener<StreamStatus>): () => void {
    this.statusListeners.add(l);
    l(this.streamStatus);
    return () => this.statusListeners.delete(l);
  }
}

export const hub = new Hub();
