# One image for every Weightsmith service; the command picks the service:
#   docker build -t weightsmith:0.1.0 .
#   docker run -p 8080:8080 weightsmith:0.1.0 services/lora-lego/src/main.ts
# Services run from TypeScript through tsx (no separate build output to keep in sync).
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY libs ./libs
COPY services ./services
RUN npm ci --omit=dev && npm cache clean --force
COPY models ./models
USER node
EXPOSE 8080
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["services/lora-lego/src/main.ts"]
