import { defineConfig } from "vitest/config";

// The server serves dist/index.html at / and dist/assets/* at /assets/ (server/app.py).
export default defineConfig({
  base: "/",
  build: { outDir: "dist", assetsDir: "assets", sourcemap: true },
  server: {
    // `npm run dev` against a running `groupsession serve` on :8080, started with
    // GROUPSESSION_ALLOWED_ORIGINS=http://localhost:5173 (it checks the page's origin).
    proxy: { "/socket.io": { target: "http://127.0.0.1:8080", ws: true } },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
